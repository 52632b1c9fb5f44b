#include <gtest/gtest.h>

#include "drawbridge/error.h"
#include "perf/points.h"
#include "plan/validate.h"
#include "test_util.h"

using namespace db::perf;

namespace {
const std::string kHeader =
    "id,hardware,count,model,weight_dtype,act_dtype,kv_dtype,tp,pp,ep,dp,batch,concurrency,input_len,output_len,"
    "spec_decode_accept,metric,value,confidence,source\n";

std::string error_of(const std::string& text) {
  try {
    parse_points(text, "p.csv");
  } catch (const db::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Points, ParsesTypedRows) {
  const auto pts = parse_points(kHeader +
                                    "VP-I07-a,ascend-910c,16,deepseek-r1,int4,int8,,16,1,,16,,400,2048,2048,2.86,output_tok_s,7235.64,high,\"src; notes, quoted\"\n",
                                "p.csv");
  ASSERT_EQ(pts.size(), 1u);
  const Point& p = pts[0];
  EXPECT_EQ(p.section(), "I");
  EXPECT_EQ(*p.count, 16);
  EXPECT_FALSE(p.ep.has_value());  // empty = not stated, never zero
  EXPECT_DOUBLE_EQ(*p.spec_decode_accept, 2.86);
  EXPECT_EQ(p.confidence, Confidence::High);
  EXPECT_EQ(p.source, "src; notes, quoted");
  EXPECT_EQ(p.line, 2);
}

TEST(Points, RejectsBadInputWithOneLine) {
  EXPECT_NE(error_of("id,hardware\nVP-A01,x\n").find("[points] p.csv:1: header differs"), std::string::npos);
  const std::string row = "VP-A01,h,1,m,bf16,bf16,,1,1,,1,,,1,1,,output_tok_s,5,high,s\n";
  EXPECT_EQ(error_of(kHeader + row), "");
  EXPECT_NE(error_of(kHeader + "VP-A01,h,x,m,bf16,bf16,,1,1,,1,,,1,1,,output_tok_s,5,high,s\n").find("column count 'x': not an integer"),
            std::string::npos);
  EXPECT_NE(error_of(kHeader + "VP-A01,h,1,m,bf17,bf16,,1,1,,1,,,1,1,,output_tok_s,5,high,s\n").find("unknown dtype"), std::string::npos);
  EXPECT_NE(error_of(kHeader + "VP-A01,h,1,m,bf16,bf16,,1,1,,1,,,1,1,,tok_s,5,high,s\n").find("unknown metric"), std::string::npos);
  EXPECT_NE(error_of(kHeader + "VP-A01,h,1,m,bf16,bf16,,1,1,,1,,,1,1,,output_tok_s,5,sure,s\n").find("confidence"), std::string::npos);
  EXPECT_NE(error_of(kHeader + row + row).find("repeats line 2"), std::string::npos);
  EXPECT_NE(error_of(kHeader + "VP-A01,h,1,m,bf16,bf16,,1,1,,1,,,1,1,,output_tok_s,5,high,\n").find("source"), std::string::npos);
}

// The target: median absolute error over the high + medium rows of the public set ≤ 15 %.
TEST(Validate, MedianErrorOnHighAndMediumRowsIsAtMost15Percent) {
  const auto path = db::test::shared_file("reference/measured-performance.csv");
  REQUIRE_SHARED(path);
  const auto points = load_points(path.string());
  const auto preds = db::plan::predict_all(points);
  size_t predicted = 0;
  for (const auto& p : preds)
    if (p.predicted && p.point->confidence != Confidence::Low) ++predicted;
  EXPECT_GE(predicted, 30u) << "too few rows predicted for the median to mean anything";
  const auto m = db::plan::median_abs_error(preds, [](const Point& p) { return p.confidence != Confidence::Low; });
  ASSERT_TRUE(m.has_value());
  EXPECT_LE(*m, 15.0);
}
