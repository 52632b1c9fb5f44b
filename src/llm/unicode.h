// Unicode helpers for the tokenizers: codepoint classes (generated tables), UTF-8 coding with
// llama.cpp's error handling, GPT-2's byte-to-unicode mapping, and the BPE pre-tokenizer splits.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace db::unicode {

// Codepoint classes; bits of kCodepointRanges (keep in sync with tools/gen_unicode_data.py).
enum Flag : uint8_t {
  NUMBER = 1 << 0,       // \p{N}
  LETTER = 1 << 1,       // \p{L}
  SEPARATOR = 1 << 2,    // \p{Z}
  MARK = 1 << 3,         // \p{M}
  PUNCTUATION = 1 << 4,  // \p{P}
  SYMBOL = 1 << 5,       // \p{S}
  CONTROL = 1 << 6,      // \p{C} except unassigned codepoints, which have no class bit
  WHITESPACE = 1 << 7,   // Unicode White_Space, what llama.cpp's \s matches
};

struct CodepointRange {
  uint32_t first;
  uint8_t flags;
};
extern const CodepointRange kCodepointRanges[];  // sorted; unicode_data.cpp (generated)
extern const size_t kNumCodepointRanges;

constexpr uint32_t kMaxCodepoint = 0x10FFFF;
constexpr uint32_t kReplacement = 0xFFFD;

uint8_t flags(uint32_t cpt);  // 0 above kMaxCodepoint

// Length of a UTF-8 sequence from its first byte, by the high nibble as llama.cpp does (a stray
// continuation byte counts as 1).
size_t utf8_len(char first_byte);
// Decodes like llama.cpp's unicode_cpts_from_utf8: each byte that does not start a complete
// sequence becomes U+FFFD and decoding resumes at the next byte.
std::vector<uint32_t> to_codepoints(std::string_view utf8);
// Strict UTF-8 (RFC 3629: no overlong forms, surrogates or codepoints above U+10FFFF): the offset
// of the first byte that breaks it, or npos when `s` is valid.
size_t first_invalid_utf8(std::string_view s);
void append_utf8(std::string& out, uint32_t cpt);

// GPT-2's reversible byte → printable codepoint mapping (as UTF-8), and its inverse (-1 if none).
const std::string& byte_to_bpe_char(uint8_t byte);
int bpe_char_to_byte(uint32_t cpt);

// The pre-tokenizer regex sets of llama.cpp's llm_tokenizer_bpe, implemented by hand.
enum class PreSplit { DEFAULT, GPT2, LLAMA3, QWEN2, DEEPSEEK_LLM };
// Splits text into words (UTF-8, invalid input replaced by U+FFFD) exactly as llama.cpp's
// unicode_regex_split does with the regex list of `kind`.
std::vector<std::string> split_words(std::string_view text, PreSplit kind);

}  // namespace db::unicode
