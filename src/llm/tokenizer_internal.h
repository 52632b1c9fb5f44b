// Internals shared by the SPM and BPE tokenizers (not part of the public API).
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "drawbridge/tokenizer.h"

namespace db::tok {

// llama.cpp's token attributes (bit flags; a token type maps to exactly one of them, 0 = undefined).
enum Attr : uint8_t {
  ATTR_UNKNOWN = 1 << 0,
  ATTR_UNUSED = 1 << 1,
  ATTR_NORMAL = 1 << 2,
  ATTR_CONTROL = 1 << 3,
  ATTR_USER_DEFINED = 1 << 4,
  ATTR_BYTE = 1 << 5,
};

// Checks sizes, ids and duplicates (db::Error "[tokenizer] ..."); renames empty tokens to
// "[EMPTY_<id>]" as llama.cpp does.
void normalize_and_validate(Vocab& v);

// llama.cpp's defaults for a "gpt2" vocabulary that depend on tokenizer.ggml.pre.
bool bpe_pre_adds_bos(std::string_view pre);
bool bpe_pre_has_no_bos(std::string_view pre);

// What SPM and BPE share: token lookup, attributes, the special-token partition of the input,
// BOS/EOS, end-of-generation ids and the token → piece table.
class VocabTokenizer : public Tokenizer {
 public:
  VocabTokenizer(const VocabTokenizer&) = delete;
  VocabTokenizer& operator=(const VocabTokenizer&) = delete;

  std::vector<Token> encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string token_to_piece(Token id, bool special = false) const override;

 protected:
  explicit VocabTokenizer(Vocab v);
  // Fills the piece table; derived constructors call it once their own state is ready.
  void init_pieces();

  Token find(std::string_view text) const {
    auto it = ids_.find(text);
    return it == ids_.end() ? -1 : it->second;
  }
  uint8_t attr(Token id) const { return attrs_[id]; }
  uint8_t byte_of(Token id) const;  // the byte of a BYTE token "<0xAB>"

  // Tokenizes one run of plain text; after_special: it starts the input or follows a special token.
  virtual void encode_text(std::string_view text, bool after_special, std::vector<Token>& out) const = 0;
  // The bytes a NORMAL token stands for.
  virtual std::string normal_piece(const std::string& text) const = 0;

 private:
  struct Fragment {
    Token token;  // >= 0: a special token; -1: the text span [offset, offset + length)
    size_t offset, length;
  };
  std::vector<Fragment> partition(std::string_view text, bool parse_special) const;
  void override_attributes();
  void collect_eog_ids();

  std::unordered_map<std::string_view, Token> ids_;  // views into vocab_.tokens
  std::vector<uint8_t> attrs_;
  std::vector<Token> special_;       // CONTROL, USER_DEFINED and UNKNOWN tokens, longest first
  std::vector<std::string> pieces_;  // token_to_piece(id, special=true)
};

// The merge candidates of SPM and BPE: a max-queue of (priority, leftmost) pairs packed in one
// integer. Four children per node: half the depth of a binary heap, and siblings share a cache line,
// which matters when a long text without spaces queues a million pairs.
class MergeQueue {
 public:
  struct Entry {
    uint64_t key;   // priority << 32 | ~left: higher priority first, then the leftmost pair
    uint32_t size;  // bytes of the pair when proposed; a mismatch later means it is stale
  };
  static uint64_t key(uint32_t priority, int left) { return uint64_t(priority) << 32 | ~uint32_t(left); }
  static int left(const Entry& e) { return int(~uint32_t(e.key)); }

  bool empty() const { return v_.empty(); }
  void clear() { v_.clear(); }
  void push(Entry e) {
    size_t i = v_.size();
    v_.push_back(e);
    for (; i > 0 && v_[(i - 1) / 4].key < e.key; i = (i - 1) / 4) v_[i] = v_[(i - 1) / 4];
    v_[i] = e;
  }
  Entry pop() {
    const Entry top = v_.front(), last = v_.back();
    v_.pop_back();
    const size_t n = v_.size();
    size_t i = 0;
    for (size_t first = 1; first < n; first = 4 * i + 1) {
      size_t best = first;
      for (size_t c = first + 1; c < first + 4 && c < n; ++c)
        if (v_[best].key < v_[c].key) best = c;
      if (v_[best].key <= last.key) break;
      v_[i] = v_[best];
      i = best;
    }
    if (n > 0) v_[i] = last;
    return top;
  }

 private:
  std::vector<Entry> v_;
};

// A float score as an unsigned integer with the same order.
inline uint32_t score_order(float score) {
  uint32_t bits;
  std::memcpy(&bits, &score, sizeof bits);
  return (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
}

std::unique_ptr<Tokenizer> make_spm_tokenizer(const Vocab& vocab);
std::unique_ptr<Tokenizer> make_bpe_tokenizer(const Vocab& vocab);  // throws on an unknown pre

}  // namespace db::tok
