// toml++ 3.3 behind a lexical screen: every TOML text from outside (device profiles, model
// profiles, the planner's calibration file) passes here before toml++ parses it.
#include "perf/toml_screen.h"

#include <fmt/format.h>

#include <cctype>
#include <string>

#include "drawbridge/error.h"

namespace db::perf {
namespace {

// Checks made before toml++ sees the text. The size bounds what parsing allocates. Control bytes
// are invalid TOML anyway, and toml++ 3.3 reaches an internal assumption (undefined behaviour in a
// release build) on a NUL in a table header (found by fuzz_profile), so they never reach it.
void check_text(std::string_view text, const std::string& origin, std::string_view area, size_t max_bytes) {
  DB_CHECK(text.size() <= max_bytes, "[{}] {}: {} bytes, more than the {} a {} may have", area, origin, text.size(),
           max_bytes, area);
  int line = 1;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') ++line;
    else if ((u < 0x20 && c != '\t' && c != '\r') || u == 0x7f)
      fail("[{}] {}: line {}: control character 0x{:02x} (TOML allows only tab and line ends)", area, origin, line, u);
  }
}

// A lexical pass over the text before toml++ sees it, refusing three things toml++ 3.3 cannot be
// trusted with (all found by fuzz_profile; each is invalid TOML or beyond any profile anyway):
//  - keys nested too deep: toml++ recurses once per level and overflows the stack (a crash) on
//    `a.a.a....a = 1` a few hundred thousand deep, with no limit of its own for dotted keys and
//    table headers. Keys and headers never span lines, so counting the dots outside strings and
//    comments on each line bounds the depth (a header plus a key, plus toml++'s own limit of 256
//    for inline tables and arrays). Profiles need 3 dots on a line.
//  - non-ASCII outside strings and comments, and right after a backslash (and the whitespace a
//    line-ending backslash skips) in a multi-line basic string: there toml++ asks whether the
//    character is Unicode whitespace, and its table for that reaches __builtin_unreachable (undefined
//    behaviour in a release build) for most codepoints from U+00A1 on.
//  - a table header whose first character is not a key character or a quote (`[ = x]`), and a `}`
//    where an array expects a value (`[1, }`): toml++ assumes neither happens (`TOML_ASSERT_ASSUME`,
//    undefined behaviour in a release build).
constexpr int kMaxDotsPerLine = 32;

class TomlScreen {
 public:
  TomlScreen(std::string_view text, const std::string& origin, std::string_view area)
      : text_(text), origin_(origin), area_(area) {
    if (text_.starts_with("\xEF\xBB\xBF")) i_ = 3;  // a UTF-8 byte order mark, which toml++ skips
  }

  void run() {
    for (; i_ < text_.size(); ++i_) {
      const char c = text_[i_];
      if (c == '\n') {
        ++line_;
        dots_ = 0;
        line_start_ = true;
        last_code_ = '\n';
        if (in_ != In::MultiBasic && in_ != In::MultiLiteral) in_ = In::Code;  // toml++ rejects an open string here
        continue;
      }
      switch (in_) {
        case In::Code: code(c); break;
        case In::Comment: break;
        case In::Basic:
          if (c == '\\' && next_is_not('\n')) ++i_;
          else if (c == '"') in_ = In::Code;
          break;
        case In::Literal:
          if (c == '\'') in_ = In::Code;
          break;
        case In::MultiBasic:
          if (c == '\\') after_backslash();
          else close_multi('"');
          break;
        case In::MultiLiteral: close_multi('\''); break;
      }
    }
  }

 private:
  enum class In { Code, Comment, Basic, Literal, MultiBasic, MultiLiteral };

  bool at(std::string_view s) const { return text_.substr(i_, s.size()) == s; }
  bool next_is_not(char c) const { return i_ + 1 < text_.size() && text_[i_ + 1] != c; }
  static bool non_ascii(char c) { return static_cast<unsigned char>(c) >= 0x80; }

  void code(char c) {
    const char before = last_code_;
    if (c != ' ' && c != '\t') {
      brackets(c);
      line_start_ = false;
      last_code_ = c;
    }
    // A quote right after a bare value (`0"..."`) opens no string in TOML; toml++ 3.3 then walks
    // into its Unicode tables with undefined behaviour (fuzz_profile), so refuse it here.
    if ((c == '"' || c == '\'') && (std::isalnum(static_cast<unsigned char>(before)) || before == '_')) {
      fail("[{}] {}: line {}: a quote right after a bare value", area_, origin_, line_);
    } else if (c == '#') {
      in_ = In::Comment;
    } else if (at("\"\"\"")) {
      in_ = In::MultiBasic, i_ += 2;
    } else if (at("'''")) {
      in_ = In::MultiLiteral, i_ += 2;
    } else if (c == '"') {
      in_ = In::Basic;
    } else if (c == '\'') {
      in_ = In::Literal;
    } else if (non_ascii(c)) {
      fail("[{}] {}: line {}: a non-ASCII character outside strings and comments", area_, origin_, line_);
    } else if (c == '.' && ++dots_ > kMaxDotsPerLine) {
      fail("[{}] {}: line {}: more than {} dots outside strings (keys nest too deep)", area_, origin_, line_,
           kMaxDotsPerLine);
    }
  }

  // Tracks the arrays and inline tables open in a value; a `[` at the start of a line outside any is
  // a table header. Mismatches are toml++'s to report.
  void brackets(char c) {
    if (c == '[' && line_start_ && open_.empty()) {
      table_header();
      if (i_ + 1 < text_.size() && text_[i_ + 1] == '[') ++i_;  // `[[`: one header, not a nested array
    } else if (c == '[' || c == '{') {
      open_.push_back(c);
    } else if (c == ']' && !open_.empty() && open_.back() == '[') {
      open_.pop_back();
    } else if (c == '}' && !open_.empty()) {
      if (open_.back() == '[') fail("[{}] {}: line {}: '}}' inside an array", area_, origin_, line_);
      open_.pop_back();
    }
  }

  // `[` or `[[` at the start of a line, then optional blanks, then a key (or `]`, which toml++ reports).
  void table_header() const {
    const auto blanks = [&](size_t j) {
      while (j < text_.size() && (text_[j] == ' ' || text_[j] == '\t')) ++j;
      return j;
    };
    size_t j = i_ + 1;
    if (j < text_.size() && text_[j] == '[') ++j;
    j = blanks(j);
    if (j >= text_.size()) return;
    const char k = text_[j];
    const bool key_start = std::isalnum(static_cast<unsigned char>(k)) || k == '_' || k == '-' || k == '"' ||
                           k == '\'' || k == ']';
    if (!key_start && static_cast<unsigned char>(k) < 0x80)
      fail("[{}] {}: line {}: a table header must start with a key, not '{}'", area_, origin_, line_, k);
  }

  // In a multi-line basic string: an escape, or a line-ending backslash with the whitespace after it.
  void after_backslash() {
    size_t j = i_ + 1;
    for (; j < text_.size() && (text_[j] == ' ' || text_[j] == '\t' || text_[j] == '\r' || text_[j] == '\n'); ++j)
      if (text_[j] == '\n') ++line_;
    if (j < text_.size() && non_ascii(text_[j]))
      fail("[{}] {}: line {}: a non-ASCII character after a backslash in a multi-line string", area_, origin_, line_);
    i_ = j > i_ + 1 ? j - 1 : j;  // resume at the character after the whitespace, or skip the escaped one
  }

  // A closing delimiter of a multi-line string may carry up to two more quotes (part of the string).
  void close_multi(char q) {
    if (!at(std::string(3, q))) return;
    i_ += 2;
    for (int extra = 0; extra < 2 && i_ + 1 < text_.size() && text_[i_ + 1] == q; ++extra) ++i_;
    in_ = In::Code;
  }

  std::string_view text_;
  const std::string& origin_;
  std::string_view area_;
  size_t i_ = 0;
  int line_ = 1, dots_ = 0;
  bool line_start_ = true;  // only blanks so far on this line (in code)
  char last_code_ = '\n';   // the last non-blank character in code on this line
  std::string open_;        // the `[` and `{` open in the current value, innermost last
  In in_ = In::Code;
};

}  // namespace

void screen_toml(std::string_view text, const std::string& origin, std::string_view area, size_t max_bytes) {
  check_text(text, origin, area, max_bytes);
  TomlScreen(text, origin, area).run();
}

}  // namespace db::perf
