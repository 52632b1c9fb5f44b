// Google Benchmark: the planner's full layout search (TP × PP × DP × batch, Pareto frontier) for
// llama-3.1-405b on 1,024 H100s. Target (issue 6): under 1 s. Each iteration uses a fresh planner,
// so the per-shape layer cache starts empty, as it does for one `drawbridge plan` call.
#include <benchmark/benchmark.h>

#include "plan/models.h"
#include "plan/planner.h"

namespace {

void BM_Search405bOn1024(benchmark::State& state) {
  db::plan::Request r;
  r.model = db::plan::find_model("llama-3.1-405b");
  r.count = 1024;
  r.work.input_len = 1000;
  r.work.output_len = 1000;
  r.precision.weight = "fp8";
  r.precision.kv = "fp8";
  const db::perf::DeviceProfile& h100 = *db::perf::find_profile("nvidia-h100-sxm");
  size_t candidates = 0;
  for (auto _ : state) {
    db::plan::Planner planner(h100);
    const auto all = planner.search(r);
    candidates = all.size();
    benchmark::DoNotOptimize(all.data());
  }
  state.counters["candidates"] = double(candidates);
}
BENCHMARK(BM_Search405bOn1024)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
