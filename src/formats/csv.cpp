#include "formats/csv.h"

#include "drawbridge/error.h"

namespace db::csv {
namespace {

// Reads records one at a time, tracking the line number for messages.
class Reader {
 public:
  Reader(std::string_view text, std::string_view what) : text_(text), what_(what) {}

  bool at_end() const { return pos_ >= text_.size(); }
  int line() const { return line_; }

  // Reads one record starting at the current position (which is at the start of a line).
  std::vector<std::string> record() {
    std::vector<std::string> fields;
    for (;;) {
      if (fields.size() == kMaxColumns) error("more than {} columns", kMaxColumns);
      fields.push_back(field());
      if (at_end()) return fields;
      const char c = text_[pos_];
      if (c == ',') {
        ++pos_;
        continue;
      }
      end_of_line();  // field() stops only at ',', a line end or the end of text
      return fields;
    }
  }

  // Skips lines that are empty (LF or CRLF only); returns false at the end of the text.
  bool skip_blank_lines() {
    while (!at_end()) {
      if (text_[pos_] == '\n') {
        ++pos_, ++line_;
      } else if (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') {
        pos_ += 2, ++line_;
      } else {
        return true;
      }
    }
    return false;
  }

  template <typename... Args>
  [[noreturn]] void error_at(int line, fmt::format_string<Args...> f, Args&&... args) const {
    fail("[csv] {}:{}: {}", what_, line, fmt::format(f, std::forward<Args>(args)...));
  }

 private:
  template <typename... Args>
  [[noreturn]] void error(fmt::format_string<Args...> f, Args&&... args) const {
    error_at(line_, f, std::forward<Args>(args)...);
  }

  std::string field() {
    if (!at_end() && text_[pos_] == '"') return quoted();
    const size_t start = pos_;
    while (!at_end()) {
      const char c = text_[pos_];
      if (c == ',' || c == '\n' || c == '\r') break;
      if (c == '"') error("a quote inside an unquoted field (quote the whole field and double the quote)");
      ++pos_;
    }
    if (pos_ - start > kMaxFieldBytes) error("a field longer than {} bytes", kMaxFieldBytes);
    return std::string(text_.substr(start, pos_ - start));
  }

  std::string quoted() {
    const int open_line = line_;
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (at_end()) error_at(open_line, "a quoted field is never closed");
      const char c = text_[pos_++];
      if (c == '"') {
        if (!at_end() && text_[pos_] == '"') {
          ++pos_;
          out.push_back('"');
          continue;
        }
        break;
      }
      if (c == '\n') ++line_;
      out.push_back(c);
      if (out.size() > kMaxFieldBytes) error_at(open_line, "a field longer than {} bytes", kMaxFieldBytes);
    }
    if (!at_end() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r')
      error("text after the closing quote of a field");
    return out;
  }

  void end_of_line() {
    if (text_[pos_] == '\r') {
      if (pos_ + 1 >= text_.size() || text_[pos_ + 1] != '\n') error("a carriage return not followed by a line feed");
      ++pos_;
    }
    ++pos_;  // '\n'
    ++line_;
  }

  std::string_view text_;
  std::string_view what_;
  size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

Table parse(std::string_view text, std::string_view what) {
  if (text.size() > kMaxTextBytes) fail("[csv] {}:1: larger than {} bytes", what, kMaxTextBytes);
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
  Reader reader(text, what);
  Table t;
  if (!reader.skip_blank_lines()) reader.error_at(1, "no header line (the file is empty)");
  t.header = reader.record();
  for (size_t i = 0; i < t.header.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (t.header[i] == t.header[j]) reader.error_at(1, "column '{}' appears twice in the header", t.header[i]);
  size_t cells = t.header.size();
  while (reader.skip_blank_lines()) {
    const int line = reader.line();
    if (t.rows.size() == kMaxRows) reader.error_at(line, "more than {} rows", kMaxRows);
    auto row = reader.record();
    if (row.size() != t.header.size())
      reader.error_at(line, "{} fields, the header has {}", row.size(), t.header.size());
    cells += row.size();
    if (cells > kMaxCells) reader.error_at(line, "more than {} fields in all", kMaxCells);
    t.rows.push_back(std::move(row));
    t.line_of_row.push_back(line);
  }
  return t;
}

}  // namespace db::csv
