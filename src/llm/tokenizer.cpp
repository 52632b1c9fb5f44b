// Vocabulary I/O (tokenizer.ggml.* keys), the synthetic vocabulary, and what the SPM and BPE
// tokenizers share, following llama.cpp's llama-vocab.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <unordered_set>

#include "drawbridge/error.h"
#include "drawbridge/gguf.h"
#include "llm/tokenizer_internal.h"
#include "llm/unicode.h"

namespace db {

//
// Reading and writing tokenizer.ggml.*
//

namespace {

constexpr uint32_t kNoToken = 0xFFFFFFFF;  // what converters write for "no such token"

// The gguf getters throw "[gguf] ..." on a wrong type; report it as a tokenizer error.
template <class Get>
auto guarded(Get get) {
  try {
    return get();
  } catch (const Error& e) {
    fail("[tokenizer] {}", e.what());
  }
}

std::vector<float> read_scores(const gguf::File& f, const std::string& key) {
  const gguf::Value* v = f.find(key);
  if (!v) return {};
  if (v->type == gguf::ValueType::ARRAY && v->elem_type == gguf::ValueType::INT32) {
    const auto& ints = *f.get_int_array(key);  // llama.cpp accepts integer scores too
    return {ints.begin(), ints.end()};
  }
  const auto* floats = guarded([&] { return f.get_float_array(key); });
  return {floats->begin(), floats->end()};
}

std::vector<TokenType> read_types(const gguf::File& f, const std::string& key) {
  const auto* ints = guarded([&] { return f.get_int_array(key); });
  if (!ints) return {};
  std::vector<TokenType> types;
  types.reserve(ints->size());
  for (int64_t t : *ints)  // unknown values count as UNDEFINED, as in llama.cpp
    types.push_back(t >= 0 && t <= int64_t(TokenType::BYTE) ? TokenType(t) : TokenType::UNDEFINED);
  return types;
}

// An optional token id key: absent or 0xFFFFFFFF keeps the default; other out-of-range ids are errors.
void read_id(const gguf::File& f, const std::string& key, size_t n_tokens, Token& id) {
  const auto v = guarded([&] { return f.get_int(key); });
  if (!v || *v == kNoToken) return;
  DB_CHECK(*v >= 0 && uint64_t(*v) < n_tokens, "[tokenizer] {}: {} = {} is out of range (vocabulary has {} tokens)",
           f.path(), key, *v, n_tokens);
  id = Token(*v);
}

void read_flag(const gguf::File& f, const std::string& key, bool& flag) {
  if (const auto v = guarded([&] { return f.get_bool(key); })) flag = *v;
}

// llama.cpp's defaults per tokenizer model, applied before the keys are read.
void set_defaults(Vocab& v) {
  if (v.model == "llama") {
    v.bos = 1, v.eos = 2, v.unk = 0, v.pad = -1;
    v.add_bos = true, v.add_eos = false, v.add_space_prefix = true;
  } else {  // gpt2
    v.bos = tok::bpe_pre_has_no_bos(v.pre) ? -1 : 11, v.eos = 11, v.unk = -1, v.pad = -1;
    v.add_bos = tok::bpe_pre_adds_bos(v.pre), v.add_eos = false, v.add_space_prefix = false;
  }
  const Token n = Token(v.tokens.size());
  for (Token* id : {&v.bos, &v.eos, &v.unk, &v.pad})
    if (*id >= n) *id = -1;  // a default outside the vocabulary is disabled
}

}  // namespace

Vocab read_vocab(const gguf::File& f) {
  const std::string k = "tokenizer.ggml.";
  Vocab v;
  const auto model = guarded([&] { return f.get_string(k + "model"); });
  DB_CHECK(model.has_value(), "[tokenizer] {}: {}model is missing", f.path(), k);
  DB_CHECK(*model == "llama" || *model == "gpt2",
           "[tokenizer] {}: unsupported tokenizer model '{}' (supported: llama, gpt2)", f.path(), *model);
  v.model = *model;
  v.pre = guarded([&] { return f.get_string(k + "pre"); }).value_or("default");

  const auto* tokens = guarded([&] { return f.get_string_array(k + "tokens"); });
  DB_CHECK(tokens != nullptr, "[tokenizer] {}: {}tokens is missing", f.path(), k);
  v.tokens = *tokens;
  const size_t n = v.tokens.size();
  v.scores = read_scores(f, k + "scores");
  v.types = read_types(f, k + "token_type");
  DB_CHECK(v.scores.empty() || v.scores.size() >= n, "[tokenizer] {}: {} scores for {} tokens", f.path(),
           v.scores.size(), n);
  DB_CHECK(v.types.empty() || v.types.size() >= n, "[tokenizer] {}: {} token types for {} tokens",
           f.path(), v.types.size(), n);
  if (!v.scores.empty()) v.scores.resize(n);  // llama.cpp ignores extra entries
  if (!v.types.empty()) v.types.resize(n);
  if (const auto* merges = guarded([&] { return f.get_string_array(k + "merges"); })) v.merges = *merges;
  DB_CHECK(v.model != "gpt2" || f.find(k + "merges"), "[tokenizer] {}: {}merges is missing", f.path(), k);

  set_defaults(v);
  read_id(f, k + "bos_token_id", n, v.bos);
  read_id(f, k + "eos_token_id", n, v.eos);
  read_id(f, k + "unknown_token_id", n, v.unk);
  read_id(f, k + "padding_token_id", n, v.pad);
  read_flag(f, k + "add_bos_token", v.add_bos);
  read_flag(f, k + "add_eos_token", v.add_eos);
  read_flag(f, k + "add_space_prefix", v.add_space_prefix);
  try {
    tok::normalize_and_validate(v);
  } catch (const Error& e) {
    fail("{} ({})", e.what(), f.path());
  }
  return v;
}

void write_vocab(gguf::Writer& w, const Vocab& v) {
  const std::string k = "tokenizer.ggml.";
  w.set(k + "model", gguf::Value::str(v.model));
  w.set(k + "pre", gguf::Value::str(v.pre));
  w.set(k + "tokens", gguf::Value::str_array(v.tokens));
  if (!v.scores.empty()) w.set(k + "scores", gguf::Value::f32_array({v.scores.begin(), v.scores.end()}));
  if (!v.types.empty()) {
    std::vector<int64_t> types;
    for (TokenType t : v.types) types.push_back(int64_t(t));
    w.set(k + "token_type", gguf::Value::i32_array(std::move(types)));
  }
  if (!v.merges.empty() || v.model == "gpt2") w.set(k + "merges", gguf::Value::str_array(v.merges));
  const std::pair<const char*, Token> ids[] = {
      {"bos_token_id", v.bos}, {"eos_token_id", v.eos}, {"unknown_token_id", v.unk}, {"padding_token_id", v.pad}};
  for (auto [name, id] : ids)  // an absent id is left out: readers apply their model default
    if (id >= 0) w.set(k + name, gguf::Value::u32(uint32_t(id)));
  w.set(k + "add_bos_token", gguf::Value::boolean(v.add_bos));
  w.set(k + "add_eos_token", gguf::Value::boolean(v.add_eos));
  w.set(k + "add_space_prefix", gguf::Value::boolean(v.add_space_prefix));
}

//
// Synthetic vocabulary
//

namespace {

// Frequent English words (TinyStories-like text), most useful first.
constexpr const char* kWords[] = {
    "the", "and", "a", "to", "was", "he", "she", "it", "they", "of", "in", "said", "her", "his",
    "you", "with", "that", "day", "on", "play", "is", "for", "one", "had", "time", "so", "happy",
    "once", "upon", "big", "little", "saw", "there", "were", "very", "but", "mom", "friend", "friends",
    "wanted", "went", "not", "all", "at", "up", "we", "what", "my", "this", "them", "from", "out",
    "have", "be", "girl", "boy", "named", "lily", "tim", "ben", "sue", "sam", "ball", "tree", "park",
    "dog", "cat", "bird", "fun", "sad", "help", "look", "see", "good", "new", "other", "some",
    "their", "will", "your", "how", "make", "more", "are", "an", "as", "do", "did", "can", "could",
    "would", "like", "go", "no", "when", "then", "him", "into", "about", "know", "come", "back",
    "over", "after", "first", "way", "because", "these", "us", "home", "toy", "found", "loved",
    "thank", "smiled", "together", "started", "asked", "find", "let", "me", "too", "get", "run",
};
// Frequent word pieces, without the leading space.
constexpr const char* kSuffixes[] = {
    "ing", "ed", "er", "es", "ly", "en", "th", "he", "in", "an", "re", "on", "at", "or", "ar", "nd",
    "ou", "ow", "st", "ll", "ay", "it", "is", "le", "ve", "se", "ent", "ion", "ter", "ful", "ness",
};

class PieceList {
 public:
  explicit PieceList(std::unordered_set<std::string> taken) : seen_(std::move(taken)) {}
  void add(const std::string& p) {
    if (seen_.insert(p).second) pieces_.push_back(p);
  }
  // Adds every prefix of `word` (two characters or more) so SPM merges can reach the word.
  void add_with_prefixes(const std::string& word) {
    for (size_t len = 1; len <= word.size(); ++len)
      if ((uint8_t(word[len - 1]) & 0xC0) != 0x80 && (len == word.size() || (uint8_t(word[len]) & 0xC0) != 0x80))
        add(word.substr(0, len));
  }
  size_t size() const { return pieces_.size(); }
  const std::vector<std::string>& pieces() const { return pieces_; }

 private:
  std::unordered_set<std::string> seen_;
  std::vector<std::string> pieces_;
};

const std::string kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's escaped space

// All strings of `len` lowercase letters, in order, with and without the leading space.
void add_letter_strings(PieceList& list, size_t len, size_t limit) {
  std::string s(len, 'a');
  while (list.size() < limit) {
    list.add(kSpace + s);
    list.add(s);
    size_t i = len;  // increment like an odometer
    while (i > 0 && s[i - 1] == 'z') s[--i] = 'a';
    if (i == 0) return;
    ++s[i - 1];
  }
}

}  // namespace

Vocab synth_vocab(int n_vocab) {
  constexpr int kFixed = 3 + 256;
  // At least "▁" besides the fixed tokens: without it a space could only decode as its bytes.
  DB_CHECK(n_vocab > kFixed, "[tokenizer] synth_vocab: n_vocab {} is below {} (3 control + 256 byte tokens + \"▁\")",
           n_vocab, kFixed + 1);
  Vocab v;
  v.model = "llama";
  v.pre = "default";
  v.bos = 1, v.eos = 2, v.unk = 0, v.pad = -1;
  v.add_bos = true, v.add_eos = false, v.add_space_prefix = true;
  auto push = [&](std::string text, float score, TokenType type) {
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  push("<unk>", 0, TokenType::UNKNOWN);
  push("<s>", 0, TokenType::CONTROL);
  push("</s>", 0, TokenType::CONTROL);
  for (int b = 0; b < 256; ++b) push(fmt::format("<0x{:02X}>", b), 0, TokenType::BYTE);

  const size_t want = size_t(n_vocab - kFixed);
  PieceList list({v.tokens.begin(), v.tokens.end()});
  list.add(kSpace);
  for (char c = 'a'; c <= 'z'; ++c) list.add(std::string(1, c));
  for (const char* w : kWords) list.add_with_prefixes(kSpace + w);
  for (const char* s : kSuffixes) list.add_with_prefixes(s);
  for (char c = 'A'; c <= 'Z'; ++c) list.add(kSpace + std::string(1, c)), list.add(std::string(1, c));
  for (char c = '!'; c <= '~'; ++c) list.add(std::string(1, c));
  for (size_t len = 1; list.size() < want; ++len) add_letter_strings(list, len, want);

  for (size_t i = 0; i < want; ++i) push(list.pieces()[i], -float(i + 1), TokenType::NORMAL);
  return v;
}

//
// Tokenizer
//

std::unique_ptr<Tokenizer> Tokenizer::create(const Vocab& vocab) {
  if (vocab.model == "llama") return tok::make_spm_tokenizer(vocab);
  if (vocab.model == "gpt2") return tok::make_bpe_tokenizer(vocab);
  fail("[tokenizer] unsupported tokenizer model '{}' (supported: llama, gpt2)", vocab.model);
}

std::string Tokenizer::decode(const std::vector<Token>& ids, bool special) const {
  // SPM encoding adds a space in front of the text; drop it again from the first piece. A leading
  // BOS that renders as nothing passes the job on to the next token.
  bool strip = vocab_.model == "llama" && vocab_.add_space_prefix;
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string piece = token_to_piece(ids[i], special);
    if (strip && i == 0 && ids[0] == vocab_.bos && piece.empty()) continue;
    if (strip && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    strip = false;
    text += piece;
  }
  return text;
}

bool Tokenizer::is_eog(Token id) const { return std::binary_search(eog_ids_.begin(), eog_ids_.end(), id); }

namespace tok {

void normalize_and_validate(Vocab& v) {
  const size_t n = v.tokens.size();
  DB_CHECK(n > 0, "[tokenizer] the vocabulary has no tokens");
  DB_CHECK(n < size_t(INT32_MAX), "[tokenizer] the vocabulary has {} tokens", n);
  DB_CHECK(v.scores.empty() || v.scores.size() == n, "[tokenizer] {} scores for {} tokens", v.scores.size(), n);
  DB_CHECK(v.types.empty() || v.types.size() == n, "[tokenizer] {} token types for {} tokens", v.types.size(), n);
  const std::pair<const char*, Token> ids[] = {{"bos", v.bos}, {"eos", v.eos}, {"unk", v.unk}, {"pad", v.pad}};
  for (auto [name, id] : ids)
    DB_CHECK(id >= -1 && id < Token(n), "[tokenizer] {} token id {} is out of range (vocabulary has {} tokens)",
             name, id, n);
  DB_CHECK(!v.add_bos || v.bos >= 0, "[tokenizer] add_bos_token is true, but bos_token_id is not set");
  DB_CHECK(!v.add_eos || v.eos >= 0, "[tokenizer] add_eos_token is true, but eos_token_id is not set");
  std::unordered_map<std::string_view, size_t> seen;
  seen.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    // Token texts are UTF-8 in both models (SPM's raw bytes are <0xNN> tokens, BPE's are mapped to
    // printable codepoints), so invalid bytes mean a corrupt vocabulary.
    if (const size_t bad = unicode::first_invalid_utf8(v.tokens[i]); bad != std::string_view::npos)
      fail("[tokenizer] token {} is not valid UTF-8 (byte 0x{:02x} at offset {})", i, uint8_t(v.tokens[i][bad]), bad);
    if (v.tokens[i].empty()) v.tokens[i] = fmt::format("[EMPTY_{}]", i);
    auto [it, fresh] = seen.emplace(v.tokens[i], i);
    DB_CHECK(fresh, "[tokenizer] duplicate token '{}' has ids {} and {}", v.tokens[i], it->second, i);
  }
}

namespace {

uint8_t attr_of(TokenType t) {
  switch (t) {
    case TokenType::NORMAL: return ATTR_NORMAL;
    case TokenType::UNKNOWN: return ATTR_UNKNOWN;
    case TokenType::CONTROL: return ATTR_CONTROL;
    case TokenType::USER_DEFINED: return ATTR_USER_DEFINED;
    case TokenType::UNUSED: return ATTR_UNUSED;
    case TokenType::BYTE: return ATTR_BYTE;
    default: return 0;
  }
}

// Token texts llama.cpp treats as control tokens whatever their type says (end of turn/generation
// and fill-in-the-middle markers), and the subset that ends generation.
const std::unordered_set<std::string_view>& eog_texts() {
  static const std::unordered_set<std::string_view> s = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
      "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
      "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
      "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>", "[e~[",
      // FIM pad / repo / file separator also end generation
      "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", "<|fim_repo|>", "<|repo_name|>",
      "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>"};
  return s;
}

const std::unordered_set<std::string_view>& fim_texts() {
  static const std::unordered_set<std::string_view> s = {
      "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>",
      "<PRE>", "\xE2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>",
      "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "hole\xEF\xBD\x9C>",
      "<SUF>", "\xE2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>",
      "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>",
      "<MID>", "\xE2\x96\x81<MID>", "<|code_middle|>", "<|middle|>"};
  return s;
}

}  // namespace

VocabTokenizer::VocabTokenizer(Vocab v) : Tokenizer(std::move(v)) {
  normalize_and_validate(vocab_);
  const size_t n = vocab_.tokens.size();
  ids_.reserve(n);
  attrs_.resize(n, ATTR_NORMAL);
  for (size_t i = 0; i < n; ++i) {
    ids_.emplace(vocab_.tokens[i], Token(i));
    if (!vocab_.types.empty()) attrs_[i] = attr_of(vocab_.types[i]);
  }
  override_attributes();
  collect_eog_ids();
  for (size_t i = 0; i < n; ++i)
    if (attrs_[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) special_.push_back(Token(i));
  // Longest first, so a special token is never cut by a shorter one it contains (stable among
  // equal lengths, where llama.cpp's order is unspecified).
  std::stable_sort(special_.begin(), special_.end(),
                   [&](Token a, Token b) { return vocab_.tokens[a].size() > vocab_.tokens[b].size(); });
}

void VocabTokenizer::override_attributes() {
  for (size_t i = 0; i < attrs_.size(); ++i) {
    const std::string& t = vocab_.tokens[i];
    if (eog_texts().count(t) || fim_texts().count(t)) attrs_[i] |= ATTR_CONTROL;
    if (t == "<|channel|>" || t == "<|message|>" || t == "<|start|>" || t == "<|constrain|>")
      attrs_[i] = ATTR_USER_DEFINED;  // gpt-oss: always rendered
  }
}

void VocabTokenizer::collect_eog_ids() {
  for (size_t i = 0; i < attrs_.size(); ++i)
    if (eog_texts().count(vocab_.tokens[i])) eog_ids_.push_back(Token(i));
  if (vocab_.eos >= 0) eog_ids_.push_back(vocab_.eos);
  std::sort(eog_ids_.begin(), eog_ids_.end());
  eog_ids_.erase(std::unique(eog_ids_.begin(), eog_ids_.end()), eog_ids_.end());

  // llama.cpp's workarounds: o200k_harmony / solar-open "<|end|>" and gemma4 "</s>" do not end generation.
  auto eog_with = [&](std::string_view text) {
    auto it = std::find_if(eog_ids_.begin(), eog_ids_.end(), [&](Token id) { return vocab_.tokens[id] == text; });
    return it == eog_ids_.end() ? Token(-1) : *it;
  };
  auto drop = [&](Token id, uint8_t new_attr) {
    eog_ids_.erase(std::find(eog_ids_.begin(), eog_ids_.end(), id));
    attrs_[id] = new_attr;
  };
  const Token end = eog_with("<|end|>");
  const bool call = eog_with("<|call|>") >= 0 || eog_with("<|calls|>") >= 0;
  if (end >= 0 && call && (eog_with("<|return|>") >= 0 || eog_with("<|flush|>") >= 0)) drop(end, ATTR_USER_DEFINED);
  const Token s_end = eog_with("</s>");
  if (s_end >= 0 && eog_with("<|tool_response>") >= 0) drop(s_end, ATTR_NORMAL);
}

void VocabTokenizer::init_pieces() {
  pieces_.resize(vocab_.tokens.size());
  for (size_t i = 0; i < pieces_.size(); ++i) {
    const uint8_t a = attrs_[i];
    const std::string& text = vocab_.tokens[i];
    if (a & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) pieces_[i] = text;
    else if (a & ATTR_NORMAL) pieces_[i] = normal_piece(text);
    else if (a & ATTR_BYTE) pieces_[i] = std::string(1, char(byte_of(Token(i))));
    // UNUSED and UNDEFINED tokens render as nothing
  }
}

uint8_t VocabTokenizer::byte_of(Token id) const {
  const std::string& t = vocab_.tokens[id];  // "<0xAB>"
  return t.size() >= 5 ? uint8_t(std::strtol(t.substr(3, 2).c_str(), nullptr, 16)) : 0;
}

std::string VocabTokenizer::token_to_piece(Token id, bool special) const {
  DB_CHECK(id >= 0 && id < n_vocab(), "[tokenizer] token id {} is out of range (vocabulary has {} tokens)", id,
           n_vocab());
  if (!special && (attrs_[id] & (ATTR_UNKNOWN | ATTR_CONTROL))) return {};
  return pieces_[id];
}

std::vector<VocabTokenizer::Fragment> VocabTokenizer::partition(std::string_view text, bool parse_special) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({-1, 0, text.size()});
  bool present[256] = {};  // first bytes in the text: most special tokens can be skipped at once
  for (char c : text) present[uint8_t(c)] = true;

  for (Token id : special_) {
    // Control and unknown tokens only when asked; user-defined ones always (as HF tokenizers do).
    if (!parse_special && (attrs_[id] & (ATTR_CONTROL | ATTR_UNKNOWN))) continue;
    const std::string& tok = vocab_.tokens[id];
    if (!present[uint8_t(tok[0])]) continue;
    std::vector<Fragment> next;
    bool found = false;
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      const std::string_view span = text.substr(0, f.offset + f.length);
      size_t pos = f.offset;
      for (size_t m; (m = span.find(tok, pos)) != std::string_view::npos; pos = m + tok.size()) {
        if (m > pos) next.push_back({-1, pos, m - pos});
        next.push_back({id, 0, 0});
        found = true;
      }
      if (pos < span.size()) next.push_back({-1, pos, span.size() - pos});
    }
    if (found) frags.swap(next);
  }
  return frags;
}

std::vector<Token> VocabTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<Token> out;
  if (add_special && vocab_.add_bos) out.push_back(vocab_.bos);
  bool after_special = true;
  for (const Fragment& f : partition(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      after_special = true;
    } else {
      encode_text(text.substr(f.offset, f.length), after_special, out);
      after_special = false;
    }
  }
  if (add_special && vocab_.add_eos) out.push_back(vocab_.eos);
  return out;
}

}  // namespace tok
}  // namespace db
