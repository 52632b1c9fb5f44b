// Byte-level BPE ("gpt2" vocabularies), as llama.cpp's llm_tokenizer_bpe: the text is split into
// words by the pre-tokenizer of tokenizer.ggml.pre, each word's bytes are mapped to GPT-2's printable
// characters, and adjacent symbols are merged by merge rank (lowest first) within the word.
#include <fmt/format.h>

#include <optional>

#include "drawbridge/error.h"
#include "llm/tokenizer_internal.h"
#include "llm/unicode.h"

namespace db::tok {
namespace {

using unicode::PreSplit;

struct PreType {
  PreSplit split;
  bool ignore_merges;  // a word that is a whole token is taken as is (llama3)
};

bool one_of(std::string_view s, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names)
    if (s == n) return true;
  return false;
}

bool is_llama3_name(std::string_view pre) {
  return one_of(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                      "jina-v5-nano"});
}

// The tokenizer.ggml.pre values whose llama.cpp pre-tokenizer is one of ours.
std::optional<PreType> pre_type(std::string_view pre) {
  if (is_llama3_name(pre)) return PreType{PreSplit::LLAMA3, true};
  if (one_of(pre, {"dbrx", "smaug-bpe", "glm4", "chatglm-bpe"})) return PreType{PreSplit::LLAMA3, false};
  if (one_of(pre, {"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "hunyuan", "solar-open", "megrez"}))
    return PreType{PreSplit::QWEN2, false};
  if (one_of(pre, {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
                   "mellum", "modern-bert", "mpt", "olmo", "jais", "exaone4", "trillion", "granite-docling"}))
    return PreType{PreSplit::GPT2, false};
  if (pre == "deepseek-llm") return PreType{PreSplit::DEEPSEEK_LLM, false};
  if (pre == "default" || pre.empty()) return PreType{PreSplit::DEFAULT, false};
  return std::nullopt;
}

class BpeTokenizer final : public VocabTokenizer {
 public:
  BpeTokenizer(const Vocab& v, PreType pre) : VocabTokenizer(v), pre_(pre) {
    id_ranks_.reserve(vocab_.merges.size());
    for (size_t i = 0; i < vocab_.merges.size(); ++i) {
      const std::string& m = vocab_.merges[i];  // "left right"; the first rank of a pair wins
      const size_t space = m.find(' ', 1);
      if (space == std::string::npos) continue;
      const Token l = find(std::string_view(m).substr(0, space)), r = find(std::string_view(m).substr(space + 1));
      if (l >= 0 && r >= 0) id_ranks_.emplace(pair_key(l, r), int(i));
      else string_ranks_.emplace(m, int(i));
    }
    init_pieces();
  }

 protected:
  void encode_text(std::string_view text, bool /*after_special*/, std::vector<Token>& out) const override {
    std::string encoded;
    Workspace ws;
    for (const std::string& word : unicode::split_words(text, pre_.split)) {
      encoded.clear();
      for (char c : word) encoded += unicode::byte_to_bpe_char(uint8_t(c));
      encode_word(encoded, ws, out);
    }
  }

  // GPT-2 characters back to bytes; llama.cpp marks characters outside the mapping.
  std::string normal_piece(const std::string& text) const override {
    std::string out;
    for (uint32_t cpt : unicode::to_codepoints(text)) {
      if (const int b = unicode::bpe_char_to_byte(cpt); b >= 0) {
        out += char(b);
        continue;
      }
      std::string utf8;
      unicode::append_utf8(utf8, cpt);
      out += "[UNK_BYTE_0x";
      for (char c : utf8) out += fmt::format("{:02x}", uint8_t(c));
      out += text + "]";
    }
    return out;
  }

 private:
  struct Symbol {
    int prev, next;
    uint32_t offset, n;  // n == 0 once merged into its left neighbour
    Token token;         // the token spelled by the symbol, -1 if none
  };
  struct Workspace {  // reused across words
    std::vector<Symbol> syms;
    MergeQueue queue;
    std::string key;
  };

  static uint64_t pair_key(Token l, Token r) { return uint64_t(uint32_t(l)) << 32 | uint32_t(r); }

  // The rank of merging two adjacent symbols, -1 if no merge rule names them.
  int rank(std::string_view word, const Symbol& l, const Symbol& r, std::string& key) const {
    if (l.token >= 0 && r.token >= 0) {
      auto it = id_ranks_.find(pair_key(l.token, r.token));
      return it == id_ranks_.end() ? -1 : it->second;
    }
    if (string_ranks_.empty()) return -1;
    key.assign(word.substr(l.offset, l.n)).append(" ").append(word.substr(r.offset, r.n));
    auto it = string_ranks_.find(key);
    return it == string_ranks_.end() ? -1 : it->second;
  }

  void encode_word(std::string_view word, Workspace& ws, std::vector<Token>& out) const {
    if (pre_.ignore_merges) {
      if (const Token id = find(word); id >= 0) return out.push_back(id);
    }
    DB_CHECK(word.size() < UINT32_MAX, "[tokenizer] a word of {} bytes is too long to tokenize", word.size());
    auto& syms = ws.syms;
    auto& queue = ws.queue;
    syms.clear();
    queue.clear();
    for (size_t off = 0; off < word.size();) {  // one symbol per UTF-8 character
      const size_t n = std::min(unicode::utf8_len(word[off]), word.size() - off);
      const int i = int(syms.size());
      syms.push_back({i - 1, off + n == word.size() ? -1 : i + 1, uint32_t(off), uint32_t(n), find(word.substr(off, n))});
      off += n;
    }
    auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      const int rk = rank(word, syms[left], syms[right], ws.key);
      if (rk >= 0) queue.push({MergeQueue::key(~uint32_t(rk), left), syms[left].n + syms[right].n});  // lowest rank first
    };
    for (int i = 1; i < int(syms.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
      const MergeQueue::Entry b = queue.pop();
      const int left = MergeQueue::left(b);
      Symbol& l = syms[left];
      // Stale when either side changed since: then the live pair is longer (or gone).
      if (l.n == 0 || l.next < 0 || l.n + syms[l.next].n != b.size) continue;
      Symbol& r = syms[l.next];
      l.n += r.n;
      l.token = find(word.substr(l.offset, l.n));
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) syms[r.next].prev = left;
      try_add(l.prev, left);
      try_add(left, l.next);
    }

    for (int i = syms.empty() ? -1 : 0; i != -1; i = syms[i].next) emit(word, syms[i], out);
  }

  // A symbol that is not a token is spelled byte by byte; bytes without a token are dropped
  // (llama.cpp does the same; a complete byte-level vocabulary never gets here).
  void emit(std::string_view word, const Symbol& sym, std::vector<Token>& out) const {
    if (sym.token >= 0) return out.push_back(sym.token);
    for (char c : word.substr(sym.offset, sym.n))
      if (const Token id = find(std::string_view(&c, 1)); id >= 0) out.push_back(id);
  }

  PreType pre_;
  std::unordered_map<uint64_t, int> id_ranks_;      // merges of two tokens, by their ids
  std::unordered_map<std::string, int> string_ranks_;  // merges naming a non-token: "left right"
};

}  // namespace

bool bpe_pre_adds_bos(std::string_view pre) { return is_llama3_name(pre) || one_of(pre, {"tekken", "chameleon"}); }

bool bpe_pre_has_no_bos(std::string_view pre) { return one_of(pre, {"glm4", "chatglm-bpe"}); }

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const Vocab& vocab) {
  const auto pre = pre_type(vocab.pre);
  DB_CHECK(pre.has_value(),
           "[tokenizer] unsupported pre-tokenizer '{}' (supported: llama-bpe/llama3, qwen2, gpt-2, deepseek-llm, "
           "default and their aliases)",
           vocab.pre);
  return std::make_unique<BpeTokenizer>(vocab, *pre);
}

}  // namespace db::tok
