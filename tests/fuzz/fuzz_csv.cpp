// libFuzzer entry point for the CSV reader: any input must parse into a rectangular table or throw
// db::Error, never crash, hang, read outside the buffer or allocate past the documented limits.
// Built by tools/fuzz.sh.
#include <cstdlib>
#include <string_view>

#include "drawbridge/error.h"
#include "formats/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const db::csv::Table t = db::csv::parse(text, "fuzz");
    // The reader's promises; breaking one is a bug even without a sanitizer report.
    if (t.rows.size() != t.line_of_row.size()) std::abort();
    for (size_t i = 0; i < t.rows.size(); ++i) {
      if (t.rows[i].size() != t.header.size()) std::abort();
      if (t.line_of_row[i] < 2 || (i && t.line_of_row[i] <= t.line_of_row[i - 1])) std::abort();
      for (const auto& f : t.rows[i])
        if (f.size() > db::csv::kMaxFieldBytes || f.size() > size) std::abort();
    }
  } catch (const db::Error&) {
    // Rejected cleanly.
  }
  return 0;
}
