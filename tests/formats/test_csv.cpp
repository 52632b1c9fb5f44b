// CSV reader: RFC 4180 features, line numbers, and every malformed or oversized input.
#include <gtest/gtest.h>

#include "drawbridge/error.h"
#include "formats/csv.h"

namespace db::csv {
namespace {

using Rows = std::vector<std::vector<std::string>>;

std::string error_of(std::string_view text) {
  try {
    parse(text, "t.csv");
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a db::Error for: " << text.substr(0, 80);
  return "";
}

TEST(Csv, PlainFieldsWithLfAndCrlf) {
  for (const char* text : {"a,b\n1,2\n3,4\n", "a,b\r\n1,2\r\n3,4\r\n", "a,b\n1,2\n3,4"}) {
    const Table t = parse(text, "t.csv");
    EXPECT_EQ(t.header, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(t.rows, (Rows{{"1", "2"}, {"3", "4"}}));
    EXPECT_EQ(t.line_of_row, (std::vector<int>{2, 3}));
  }
}

TEST(Csv, QuotedFieldsEscapesAndEmbeddedNewlines) {
  const Table t = parse("name,note\n\"x, y\",\"say \"\"hi\"\"\"\n\"two\nlines\",\"\"\nlast,\"a\r\nb\"\n", "t.csv");
  EXPECT_EQ(t.rows, (Rows{{"x, y", "say \"hi\""}, {"two\nlines", ""}, {"last", "a\r\nb"}}));
  EXPECT_EQ(t.line_of_row, (std::vector<int>{2, 3, 5}));
}

TEST(Csv, EmptyFieldsBlankLinesAndBom) {
  const Table t = parse("\xEF\xBB\xBF" "a,b,c\n\n,,\n1,,3\n\r\n", "t.csv");
  EXPECT_EQ(t.header, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(t.rows, (Rows{{"", "", ""}, {"1", "", "3"}}));
  EXPECT_EQ(t.line_of_row, (std::vector<int>{3, 4}));
}

TEST(Csv, HeaderOnlyHasNoRows) {
  const Table t = parse("a,b\n", "t.csv");
  EXPECT_EQ(t.header.size(), 2u);
  EXPECT_TRUE(t.rows.empty());
}

TEST(Csv, MalformedInputNamesFileLineAndProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "[csv] t.csv:1: no header line"},
      {"\n\r\n", "[csv] t.csv:1: no header line"},
      {"a,b\n1,2,3\n", "[csv] t.csv:2: 3 fields, the header has 2"},
      {"a,b\n1,2\n\n3\n", "[csv] t.csv:4: 1 fields, the header has 2"},
      {"a,b\n1,\"2\n", "[csv] t.csv:2: a quoted field is never closed"},
      {"a,b\n1,\"2\"x\n", "[csv] t.csv:2: text after the closing quote"},
      {"a,b\n1,2\"\n", "[csv] t.csv:2: a quote inside an unquoted field"},
      {"a,b\n1,2\r3,4\n", "[csv] t.csv:2: a carriage return not followed by a line feed"},
      {"a,a\n1,2\n", "[csv] t.csv:1: column 'a' appears twice"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string msg = error_of(text);
    EXPECT_EQ(msg.substr(0, expected.size()), expected) << "input: " << text;
  }
}

TEST(Csv, LimitsAreEnforced) {
  EXPECT_NE(error_of("a\n" + std::string(kMaxFieldBytes + 1, 'x') + "\n").find("a field longer than"), std::string::npos);
  EXPECT_NE(error_of("a\n\"" + std::string(kMaxFieldBytes + 1, 'x') + "\"\n").find("a field longer than"),
            std::string::npos);
  std::string wide;
  for (size_t i = 0; i <= kMaxColumns; ++i) wide += (i ? ",c" : "c") + std::to_string(i);
  EXPECT_NE(error_of(wide + "\n").find("more than 1024 columns"), std::string::npos);
  std::string tall = "a\n";
  for (size_t i = 0; i <= kMaxRows; ++i) tall += "1\n";
  EXPECT_EQ(error_of(tall), "[csv] t.csv:1000002: more than 1000000 rows");
  // Exactly at the limits is fine.
  EXPECT_EQ(parse("a\n" + std::string(kMaxFieldBytes, 'x') + "\n", "t.csv").rows[0][0].size(), kMaxFieldBytes);
}

TEST(Csv, CellLimitBoundsMemory) {
  // 1024 empty fields per row costs 1024 bytes of text but 32 KiB of strings: the cell cap stops it.
  const std::string row = std::string(kMaxColumns - 1, ',') + "\n";
  std::string header;
  for (size_t i = 0; i < kMaxColumns; ++i) header += (i ? ",c" : "c") + std::to_string(i);
  std::string text = header + "\n";
  for (size_t i = 0; i < kMaxCells / kMaxColumns + 1; ++i) text += row;
  EXPECT_NE(error_of(text).find("more than 4194304 fields in all"), std::string::npos);
}

}  // namespace
}  // namespace db::csv
