// SentencePiece-style BPE ("llama" vocabularies), as llama.cpp's llm_tokenizer_spm: spaces become
// U+2581, characters are merged pairwise by the highest piece score, and whatever does not end up
// as a piece falls back to <0xXX> byte tokens.
#include <algorithm>
#include <array>

#include "drawbridge/error.h"
#include "llm/tokenizer_internal.h"
#include "llm/unicode.h"

namespace db::tok {
namespace {

const std::string kEscapedSpace = "\xE2\x96\x81";  // U+2581

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0;;) {
    const size_t hit = s.find(from, pos);
    out.append(s.substr(pos, hit - pos));
    if (hit == std::string_view::npos) return out;
    out.append(to);
    pos = hit + from.size();
  }
}

bool is_escaped_space(std::string_view text, size_t pos) { return text.compare(pos, 3, kEscapedSpace) == 0; }

// llama.cpp runs the merges over a whole text fragment at once. When no piece has "▁" after another
// character, no merge can cross into a "▁" that follows another character, so the text can be cut
// there and merged chunk by chunk with the same result: small queues instead of one the size of
// the text.
bool spaces_only_lead_pieces(const Vocab& v) {
  for (const std::string& t : v.tokens)
    for (size_t p = t.find(kEscapedSpace, 1); p != std::string::npos; p = t.find(kEscapedSpace, p + 1))
      if (p < 3 || !is_escaped_space(t, p - 3)) return false;
  return true;
}

class SpmTokenizer final : public VocabTokenizer {
 public:
  explicit SpmTokenizer(const Vocab& v) : VocabTokenizer(v), chunk_at_spaces_(spaces_only_lead_pieces(vocab_)) {
    for (int b = 0; b < 256; ++b) byte_tokens_[b] = find_byte_token(uint8_t(b));
    init_pieces();
  }

 protected:
  void encode_text(std::string_view raw, bool after_special, std::vector<Token>& out) const override {
    // The space prefix makes the first word look like any other word ("▁Hello").
    std::string prefixed(vocab_.add_space_prefix && after_special ? 1 : 0, ' ');
    prefixed += raw;
    const std::string text = replace_all(prefixed, " ", kEscapedSpace);
    Workspace ws;
    size_t begin = 0;
    for (size_t off = 0; off < text.size(); off += char_len(text, off)) {
      const bool cut = chunk_at_spaces_ && off > begin && char_len(text, off) == 3 && is_escaped_space(text, off) &&
                       (off < 3 || !is_escaped_space(text, off - 3));
      if (cut) {
        merge(std::string_view(text).substr(begin, off - begin), ws, out);
        begin = off;
      }
    }
    merge(std::string_view(text).substr(begin), ws, out);
  }

  std::string normal_piece(const std::string& text) const override {
    return replace_all(text, kEscapedSpace, " ");
  }

 private:
  struct Symbol {
    int prev, next;  // neighbours in the chain of live symbols, -1 at the ends
    uint32_t offset, n;  // byte span; n == 0 once merged into its left neighbour
  };
  struct Workspace {  // reused across chunks
    std::vector<Symbol> syms;
    MergeQueue heap;
  };

  // One symbol per UTF-8 character, its length taken from the first byte (as llama.cpp).
  static size_t char_len(std::string_view text, size_t off) {
    return std::min(unicode::utf8_len(text[off]), text.size() - off);
  }

  Token find_byte_token(uint8_t b) const {
    static const char* hex = "0123456789ABCDEF";
    const char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
    const Token id = find(name);
    return id >= 0 ? id : find(std::string(1, char(b)));  // some vocabularies spell bytes raw
  }

  float score(Token id) const { return vocab_.scores.empty() ? 0.0f : vocab_.scores[id]; }

  void merge(std::string_view text, Workspace& ws, std::vector<Token>& out) const {
    if (text.empty()) return;
    DB_CHECK(text.size() < UINT32_MAX, "[tokenizer] {} bytes without a space are too many to tokenize", text.size());
    auto& syms = ws.syms;
    auto& heap = ws.heap;
    syms.clear();
    heap.clear();
    for (size_t off = 0; off < text.size();) {
      const size_t n = char_len(text, off);
      const int i = int(syms.size());
      syms.push_back({i - 1, off + n == text.size() ? -1 : i + 1, uint32_t(off), uint32_t(n)});
      off += n;
    }
    auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      const uint32_t size = syms[left].n + syms[right].n;
      const Token id = find(text.substr(syms[left].offset, size));
      if (id < 0) return;
      heap.push({MergeQueue::key(score_order(score(id)), left), size});
    };
    for (int i = 1; i < int(syms.size()); ++i) try_add(i - 1, i);

    while (!heap.empty()) {
      const MergeQueue::Entry b = heap.pop();
      const int left = MergeQueue::left(b);
      Symbol& l = syms[left];
      // Stale when either side changed since: then the live pair is longer (or gone).
      if (l.n == 0 || l.next < 0 || l.n + syms[l.next].n != b.size) continue;
      Symbol& r = syms[l.next];
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) syms[r.next].prev = left;
      try_add(l.prev, left);
      try_add(left, l.next);
    }

    for (int i = 0; i != -1; i = syms[i].next) emit(text.substr(syms[i].offset, syms[i].n), out);
  }

  // A final symbol is either a piece or a character missing from the vocabulary: spell it in bytes.
  void emit(std::string_view sym, std::vector<Token>& out) const {
    if (const Token id = find(sym); id >= 0) {
      out.push_back(id);
      return;
    }
    for (char c : sym) {
      const Token id = byte_tokens_[uint8_t(c)];
      DB_CHECK(id >= 0, "[tokenizer] the vocabulary has no token for byte 0x{:02X}", uint8_t(c));
      out.push_back(id);
    }
  }

  bool chunk_at_spaces_;
  std::array<Token, 256> byte_tokens_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(const Vocab& vocab) { return std::make_unique<SpmTokenizer>(vocab); }

}  // namespace db::tok
