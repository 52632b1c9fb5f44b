// Codepoint classes, UTF-8 coding and the BPE pre-tokenizer splits, mirroring llama.cpp's unicode.cpp.
//
// llama.cpp applies a list of regexes per pre-tokenizer type: each regex splits every current
// segment into its matches and the gaps between them (both kept). The common regexes have hand
// written matchers there (gpt2, llama3); the rest run through std::regex on a "collapsed" text where
// every non-ASCII codepoint stands for its class and non-ASCII whitespace for \v. Every regex below
// is a hand-written matcher reproducing those semantics (ECMAScript leftmost, ordered alternation).
#include "llm/unicode.h"

#include <algorithm>
#include <array>

namespace db::unicode {

uint8_t flags(uint32_t cpt) {
  // One byte per codepoint (1.1 MB), expanded once from the range table: O(1) lookups.
  static const std::vector<uint8_t> table = [] {
    std::vector<uint8_t> t(kMaxCodepoint + 1);
    for (size_t i = 0; i < kNumCodepointRanges; ++i) {
      const uint32_t last = i + 1 < kNumCodepointRanges ? kCodepointRanges[i + 1].first : kMaxCodepoint + 1;
      std::fill(t.begin() + kCodepointRanges[i].first, t.begin() + last, kCodepointRanges[i].flags);
    }
    return t;
  }();
  return cpt <= kMaxCodepoint ? table[cpt] : 0;
}

size_t utf8_len(char first_byte) {
  static constexpr size_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[uint8_t(first_byte) >> 4];
}

size_t first_invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t b = uint8_t(s[i]);
    size_t len = 0;
    uint32_t cpt = 0, min = 0;
    if (b < 0x80) len = 1, cpt = b;
    else if ((b & 0xE0) == 0xC0) len = 2, cpt = b & 0x1F, min = 0x80;
    else if ((b & 0xF0) == 0xE0) len = 3, cpt = b & 0x0F, min = 0x800;
    else if ((b & 0xF8) == 0xF0) len = 4, cpt = b & 0x07, min = 0x10000;
    else return i;  // a continuation byte or 0xF8..0xFF where a sequence must start
    if (len > s.size() - i) return i;
    for (size_t k = 1; k < len; ++k) {
      const uint8_t c = uint8_t(s[i + k]);
      if ((c & 0xC0) != 0x80) return i;
      cpt = (cpt << 6) | (c & 0x3F);
    }
    if (cpt < min || cpt > kMaxCodepoint || (cpt >= 0xD800 && cpt <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

namespace {

bool is_continuation(std::string_view s, size_t i) { return i < s.size() && (uint8_t(s[i]) & 0xC0) == 0x80; }

// Sequence length announced by a lead byte; 0 for a continuation byte or 0xF8..0xFF.
size_t lead_len(uint8_t b) {
  if (b < 0x80) return 1;
  if (!(b & 0x40)) return 0;
  if (!(b & 0x20)) return 2;
  if (!(b & 0x10)) return 3;
  if (!(b & 0x08)) return 4;
  return 0;
}

}  // namespace

std::vector<uint32_t> to_codepoints(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const uint8_t b = s[i];
    const size_t n = lead_len(b);
    bool ok = n > 0;
    for (size_t k = 1; ok && k < n; ++k) ok = is_continuation(s, i + k);
    if (!ok) {  // llama.cpp: skip one byte, emit U+FFFD
      out.push_back(kReplacement);
      ++i;
      continue;
    }
    static constexpr uint8_t kLeadMask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t cpt = b & kLeadMask[n];
    for (size_t k = 1; k < n; ++k) cpt = (cpt << 6) | (uint8_t(s[i + k]) & 0x3F);
    out.push_back(cpt);
    i += n;
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cpt) {
  if (cpt <= 0x7F) {
    out += char(cpt);
  } else if (cpt <= 0x7FF) {
    out += char(0xC0 | (cpt >> 6));
    out += char(0x80 | (cpt & 0x3F));
  } else if (cpt <= 0xFFFF) {
    out += char(0xE0 | (cpt >> 12));
    out += char(0x80 | ((cpt >> 6) & 0x3F));
    out += char(0x80 | (cpt & 0x3F));
  } else {  // up to 0x1FFFFF, which 4-byte input can encode: keeps such input lossless
    out += char(0xF0 | ((cpt >> 18) & 0x07));
    out += char(0x80 | ((cpt >> 12) & 0x3F));
    out += char(0x80 | ((cpt >> 6) & 0x3F));
    out += char(0x80 | (cpt & 0x3F));
  }
}

namespace {

// GPT-2: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in order.
struct ByteMap {
  std::array<std::string, 256> to_char;
  std::array<int, 512> to_byte;
  ByteMap() {
    to_byte.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const uint32_t cpt = printable ? b : next++;
      append_utf8(to_char[b], cpt);
      to_byte[cpt] = b;
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

}  // namespace

const std::string& byte_to_bpe_char(uint8_t byte) { return byte_map().to_char[byte]; }

int bpe_char_to_byte(uint32_t cpt) { return cpt < 512 ? byte_map().to_byte[cpt] : -1; }

//
// Pre-tokenizer splits
//

namespace {

constexpr uint32_t kOutside = 0xFFFFFFFF;  // llama.cpp's OUT_OF_RANGE

// The text being split with its classes; matchers look at one segment [begin, end) of it.
struct Text {
  std::vector<uint32_t> cpts;
  std::vector<uint8_t> fl;
};

struct Segment {
  const Text& t;
  size_t begin, end;

  bool in(size_t i) const { return i >= begin && i < end; }
  uint32_t cpt(size_t i) const { return in(i) ? t.cpts[i] : kOutside; }
  uint8_t fl(size_t i) const { return in(i) ? t.fl[i] : 0; }
  bool is(size_t i, uint8_t mask) const { return fl(i) & mask; }
  bool is_rn(size_t i) const { return cpt(i) == '\r' || cpt(i) == '\n'; }
  // [^\s\p{L}\p{N}] on an in-segment codepoint.
  bool is_other(size_t i) const { return in(i) && !(fl(i) & (WHITESPACE | LETTER | NUMBER)); }
  size_t run(size_t i, uint8_t mask) const {  // end of the run of `mask` codepoints from i
    while (is(i, mask)) ++i;
    return i;
  }
};

using Lengths = std::vector<size_t>;  // segment lengths in codepoints, like llama.cpp's offsets

// Applies one regex: match(seg, pos) returns the end of the match starting at pos, or pos if
// nothing matches there. Matches and the gaps between them become segments.
template <class Match>
Lengths apply(const Text& t, const Lengths& in, Match match) {
  Lengths out;
  out.reserve(in.size());
  size_t begin = 0;
  for (size_t len : in) {
    const Segment seg{t, begin, begin + len};
    size_t gap = seg.begin;
    for (size_t pos = seg.begin; pos < seg.end;) {
      const size_t end = match(seg, pos);
      if (end == pos) {
        ++pos;
        continue;
      }
      if (pos > gap) out.push_back(pos - gap);
      out.push_back(end - pos);
      pos = gap = end;
    }
    if (gap < seg.end) out.push_back(seg.end - gap);
    begin = seg.end;
  }
  return out;
}

char ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : char(c); }

// 's|'t|'re|'ve|'m|'ll|'d (case-insensitive when asked); returns pos if none.
size_t match_contraction(const Segment& s, size_t pos, bool any_case) {
  if (s.cpt(pos) != '\'' || pos + 1 >= s.end) return pos;
  auto ch = [&](size_t i) {
    const uint32_t c = s.cpt(i);
    return c >= 0x80 ? '\0' : any_case ? ascii_lower(c) : char(c);
  };
  const char c1 = ch(pos + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return pos + 2;
  if (pos + 2 >= s.end) return pos;
  const char c2 = ch(pos + 2);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return pos + 3;
  return pos;
}

// Whitespace tail shared by gpt2/llama3: \s+(?!\S)|\s+ (and a lone non-matching char).
size_t match_spaces(const Segment& s, size_t pos) {
  size_t n = 0;
  while (s.is(pos + n, WHITESPACE)) ++n;
  if (n > 1 && s.in(pos + n)) return pos + n - 1;  // leave the last space to the next word
  return pos + std::max<size_t>(n, 1);
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t match_gpt2(const Segment& s, size_t pos) {
  if (size_t end = match_contraction(s, pos, false); end != pos) return end;
  const size_t start = pos + (s.cpt(pos) == ' ');  // the optional leading space
  if (s.is(start, LETTER)) return s.run(start, LETTER);
  if (s.is(start, NUMBER)) return s.run(start, NUMBER);
  if (s.is_other(start)) {
    size_t i = start;
    while (s.is_other(i)) ++i;
    return i;
  }
  return match_spaces(s, pos);
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
//  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+       (llama3: max_digits 3, qwen2: 1)
size_t match_llama3(const Segment& s, size_t pos, size_t max_digits) {
  if (size_t end = match_contraction(s, pos, true); end != pos) return end;
  const uint32_t c = s.cpt(pos);
  if (!(c == '\r' || c == '\n' || s.is(pos, NUMBER)) && (s.is(pos, LETTER) || s.is(pos + 1, LETTER))) {
    return s.run(pos + 1, LETTER);
  }
  if (s.is(pos, NUMBER)) {
    size_t i = pos;
    while (s.is(i, NUMBER) && i - pos < max_digits) ++i;
    return i;
  }
  const size_t start = pos + (c == ' ');
  if (!s.in(start) || s.is_other(start)) {  // a lone trailing ' ' also ends up as one word
    size_t i = start;
    while (s.is_other(i)) ++i;
    while (s.is_rn(i)) ++i;
    return i;
  }
  size_t n = 0, last_rn = 0;
  for (; s.is(pos + n, WHITESPACE); ++n)
    if (s.is_rn(pos + n)) last_rn = pos + n + 1;
  if (last_rn > 0) return last_rn;  // \s*[\r\n]+
  return match_spaces(s, pos);
}

// \s?[class]+ as std::wregex runs it: the optional space only when a class char follows.
template <class Pred>
size_t match_space_then_run(const Segment& s, size_t pos, Pred in_class) {
  auto cls = [&](size_t i) { return s.in(i) && !s.is(i, WHITESPACE) && in_class(s.cpt(i)); };
  size_t i = pos;
  if (s.is(pos, WHITESPACE) && cls(pos + 1)) ++i;
  if (!cls(i)) return pos;
  while (cls(i)) ++i;
  return i;
}

// [class]+; whitespace never matches (non-ASCII whitespace is \v in llama.cpp's regex input).
template <class Pred>
size_t match_run(const Segment& s, size_t pos, Pred in_class) {
  size_t i = pos;
  while (s.in(i) && !s.is(i, WHITESPACE) && in_class(s.cpt(i))) ++i;
  return i;
}

bool in_ranges(uint32_t c, std::initializer_list<std::pair<uint32_t, uint32_t>> ranges) {
  for (auto [lo, hi] : ranges)
    if (c >= lo && c <= hi) return true;
  return false;
}

// The cased-letter class of deepseek-llm's second regex, as written in its tokenizer.json.
bool is_deepseek_letter(uint32_t c) {
  static constexpr std::pair<uint32_t, uint32_t> kRanges[] = {
      {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
      {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377},
      {0x37B, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C},
      {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556},
      {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF},
      {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
      {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
      {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE},
      {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC},
      {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113},
      {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128},
      {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
      {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE},
      {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787},
      {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A},
      {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
      {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
  };
  auto it = std::upper_bound(std::begin(kRanges), std::end(kRanges), c,
                             [](uint32_t v, const auto& r) { return v < r.first; });
  return it != std::begin(kRanges) && c <= std::prev(it)->second;
}

// Each segment's trailing whitespace becomes its own segment (\s+$).
Lengths split_trailing_spaces(const Text& t, const Lengths& in) {
  Lengths out;
  size_t begin = 0;
  for (size_t len : in) {
    const size_t end = begin + len;
    size_t tail = end;
    while (tail > begin && (t.fl[tail - 1] & WHITESPACE)) --tail;
    if (tail > begin) out.push_back(tail - begin);
    if (end > tail) out.push_back(end - tail);
    begin = end;
  }
  return out;
}

Lengths split_deepseek_llm(const Text& t, Lengths l) {
  l = apply(t, l, [](const Segment& s, size_t p) { return p + s.is_rn(p); });  // [\r\n]
  l = apply(t, l, [](const Segment& s, size_t p) { return match_space_then_run(s, p, is_deepseek_letter); });
  l = apply(t, l, [](const Segment& s, size_t p) {  // \s?[!-/:-~！-／：-～‘-‟　-。]+
    return match_space_then_run(s, p, [](uint32_t c) {
      return in_ranges(c, {{0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E},
                           {0x2018, 0x201F}, {0x3000, 0x3002}});
    });
  });
  l = split_trailing_spaces(t, l);
  l = apply(t, l, [](const Segment& s, size_t p) {  // [一-龥ࠀ-一가-퟿]+
    return match_run(s, p, [](uint32_t c) {
      return in_ranges(c, {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}});
    });
  });
  return apply(t, l, [](const Segment& s, size_t p) { return s.run(p, NUMBER); });  // \p{N}+
}

Lengths split_default(const Text& t, Lengths l) {
  l = apply(t, l, [](const Segment& s, size_t p) {  // [\p{P}\$\+<=>\^~\|]+
    size_t i = p;
    while (s.in(i) && (s.is(i, PUNCTUATION) || in_ranges(s.cpt(i), {{'$', '$'}, {'+', '+'}, {'<', '>'},
                                                                      {'^', '^'}, {'~', '~'}, {'|', '|'}})))
      ++i;
    return i;
  });
  l = apply(t, l, match_gpt2);
  l = apply(t, l, [](const Segment& s, size_t p) { return s.run(p, NUMBER); });  // \p{N}+
  return apply(t, l, [](const Segment& s, size_t p) {  // [0-9][0-9][0-9]
    for (size_t i = p; i < p + 3; ++i)
      if (s.cpt(i) < '0' || s.cpt(i) > '9') return p;
    return p + 3;
  });
}

}  // namespace

std::vector<std::string> split_words(std::string_view text, PreSplit kind) {
  Text t;
  t.cpts = to_codepoints(text);
  t.fl.resize(t.cpts.size());
  for (size_t i = 0; i < t.cpts.size(); ++i) t.fl[i] = flags(t.cpts[i]);

  Lengths lens{t.cpts.size()};
  switch (kind) {
    case PreSplit::GPT2: lens = apply(t, lens, match_gpt2); break;
    case PreSplit::LLAMA3: lens = apply(t, lens, [](const Segment& s, size_t p) { return match_llama3(s, p, 3); }); break;
    case PreSplit::QWEN2: lens = apply(t, lens, [](const Segment& s, size_t p) { return match_llama3(s, p, 1); }); break;
    case PreSplit::DEEPSEEK_LLM: lens = split_deepseek_llm(t, lens); break;
    case PreSplit::DEFAULT: lens = split_default(t, lens); break;
  }

  std::vector<std::string> words(lens.size());
  size_t begin = 0;
  for (size_t w = 0; w < lens.size(); ++w) {
    for (size_t i = begin; i < begin + lens[w]; ++i) append_utf8(words[w], t.cpts[i]);
    begin += lens[w];
  }
  return words;
}

}  // namespace db::unicode
