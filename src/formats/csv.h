// A small, bounded RFC 4180 CSV reader for the data files Drawbridge reads (measured points, tables).
// Quoted fields, "" as an escaped quote, LF or CRLF line ends, newlines inside quoted fields. The first
// record is the header (column names distinct); every other record must have exactly as many fields. Blank lines are skipped.
// Any malformed or oversized input throws db::Error("[csv] <what>:<line>: <problem>").
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace db::csv {

// Limits, so a hostile file cannot make the reader allocate without bound. The text is already in
// memory; what is built from it is at most the text's bytes plus one std::string (32 bytes) per field,
// so kMaxCells caps the bookkeeping at about 128 MiB whatever the text.
inline constexpr size_t kMaxTextBytes = size_t(1) << 30;  // the whole text: 1 GiB (line numbers fit an int)
inline constexpr size_t kMaxFieldBytes = size_t(1) << 20; // one field: 1 MiB
inline constexpr size_t kMaxColumns = 1024;               // fields per record
inline constexpr size_t kMaxRows = 1'000'000;             // data records, header excluded
inline constexpr size_t kMaxCells = size_t(1) << 22;      // fields in all, header included

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int> line_of_row;  // 1-based line where each row starts, for error messages
};

// Parses `text`; `what` names the source in errors (usually the file path).
Table parse(std::string_view text, std::string_view what);

}  // namespace db::csv
