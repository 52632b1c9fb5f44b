// drawbridge plan: how a model runs on N devices (memory, TTFT, TPOT, tokens/s, energy, cost), for
// one layout or searched over TP×PP×EP×DP×batch with the Pareto frontier; --train for a training
// step. drawbridge compare: one model across devices as a table, an SVG and an HTML page.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "drawbridge/error.h"
#include "plan/models.h"
#include "plan/planner.h"
#include "plan/report.h"

namespace db::cli {

namespace {

struct PlanArgs {
  std::string model, device, weight_dtype = "bf16", kv_dtype, disaggregate, recompute = "selective", framework = "default";
  int count = 1, tp = 0, pp = 0, ep = 0, dp = 0, batch = 0, concurrency = 0, input_len = 0, output_len = 0;
  int global_batch = 0, seq_len = 0, micro_batch = 1;
  double spec_accept = 0;
  bool json = false, train = false;
};

const perf::DeviceProfile& profile_or_fail(const std::string& id) {
  const std::string chip = id.starts_with("sim:") ? id.substr(4) : id;
  const perf::DeviceProfile* p = perf::find_profile(chip);
  DB_CHECK(p, "[plan] unknown device '{}' (see drawbridge devices)", id);
  return *p;
}

double gib(double bytes) { return bytes / double(1ull << 30); }

nlohmann::json to_json(const plan::Estimate& e) {
  nlohmann::json j = {{"layout", {{"tp", e.layout.tp}, {"pp", e.layout.pp}, {"ep", e.layout.ep}, {"dp", e.layout.dp}}},
                      {"batch_per_replica", e.batch},
                      {"memory_gib", {{"weights", gib(e.memory.weights)}, {"kv_cache", gib(e.memory.kv_cache)},
                                      {"activations", gib(e.memory.activations)}, {"usable", gib(e.memory.capacity)}}},
                      {"fits", e.memory.fits},
                      {"ttft_ms", e.ttft_s * 1e3},
                      {"tpot_ms", e.tpot_s * 1e3},
                      {"output_tok_s", e.output_tok_s},
                      {"output_tok_s_per_device", e.output_tok_s_per_device},
                      {"notes", e.notes},
                      {"unknowns", e.unknowns}};
  if (e.joules_per_mtok) j["joules_per_mtok"] = *e.joules_per_mtok;
  if (e.usd_per_mtok) j["usd_per_mtok"] = *e.usd_per_mtok;
  return j;
}

void print_estimate(const plan::Estimate& e, const plan::Request& r) {
  std::printf("layout      %s, %d sequences per replica\n", e.layout.str().c_str(), e.batch);
  std::printf("memory      per device: weights %.1f GiB, KV cache %.1f GiB, activations %.1f GiB of %.1f GiB usable: %s\n",
              gib(e.memory.weights), gib(e.memory.kv_cache), gib(e.memory.activations), gib(e.memory.capacity),
              e.memory.fits ? "fits" : "DOES NOT FIT");
  std::printf("TTFT        %.1f ms\nTPOT        %.2f ms\n", e.ttft_s * 1e3, e.tpot_s * 1e3);
  std::printf("throughput  %.0f output tok/s system, %.1f per device\n", e.output_tok_s, e.output_tok_s_per_device);
  if (e.joules_per_mtok) std::printf("energy      %.3f kWh per million output tokens (all devices at TDP)\n", *e.joules_per_mtok / 3.6e6);
  if (e.usd_per_mtok) std::printf("cost        $%.3f per million output tokens\n", *e.usd_per_mtok);
  for (const auto& n : e.notes) std::printf("note        %s\n", n.c_str());
  for (const auto& u : e.unknowns) std::printf("lower bound %s\n", u.c_str());
}

plan::Request request_of(const PlanArgs& a) {
  plan::Request r;
  r.model = plan::find_model(a.model);
  DB_CHECK(a.count >= 1, "[plan] --count must be at least 1");
  DB_CHECK(a.input_len >= 1 && a.output_len >= 1, "[plan] --input-len and --output-len are required (at least 1)");
  DB_CHECK(!(a.batch > 0 && a.concurrency > 0), "[plan] give --batch or --concurrency, not both");
  DB_CHECK(a.spec_accept == 0 || a.spec_accept >= 1, "[plan] --spec-accept is the mean accepted length (>= 1)");
  r.count = a.count;
  r.work = {a.input_len, a.output_len, a.batch, a.concurrency, 0, a.spec_accept, 4};
  r.precision.weight = a.weight_dtype;
  r.precision.kv = a.kv_dtype.empty() ? (a.weight_dtype == "fp8" ? "fp8" : "bf16") : a.kv_dtype;
  plan::bytes_per_element(r.precision.weight);
  plan::bytes_per_element(r.precision.kv);
  r.framework = a.framework;
  if (!a.disaggregate.empty()) {
    int p = 0, d = 0;
    char colon = 0;
    DB_CHECK(std::sscanf(a.disaggregate.c_str(), "%d%c%d", &p, &colon, &d) == 3 && colon == ':' && p > 0 && d > 0,
             "[plan] --disaggregate wants P:D device counts, e.g. 8:8 (got '{}')", a.disaggregate);
    DB_CHECK(p + d == a.count, "[plan] --disaggregate {}:{} uses {} devices but --count is {}", p, d, p + d, a.count);
    r.disagg = {p, d};
  }
  return r;
}

void run_train(const PlanArgs& a) {
  const perf::DeviceProfile& prof = profile_or_fail(a.device);
  plan::Planner planner(prof, "default");
  plan::TrainRequest r;
  r.model = plan::find_model(a.model);
  r.count = a.count;
  DB_CHECK(a.global_batch >= 1 && a.seq_len >= 1, "[plan] --train needs --global-batch and --seq-len");
  const int tp = a.tp ? a.tp : 1, pp = a.pp ? a.pp : 1;
  DB_CHECK(a.count % (tp * pp) == 0, "[plan] TP{} × PP{} does not divide --count {}", tp, pp, a.count);
  r.layout = {tp, pp, 1, a.dp ? a.dp : a.count / (tp * pp), false};
  r.global_batch = a.global_batch;
  r.seq_len = a.seq_len;
  r.micro_batch = a.micro_batch;
  r.dtype = a.weight_dtype;
  r.recompute = a.recompute;
  const plan::TrainEstimate t = plan::estimate_training(planner, r);
  if (a.json) {
    nlohmann::json j = {{"step_s", t.step_s}, {"tokens_per_s_per_device", t.tokens_per_s_per_device}, {"mfu", t.mfu},
                        {"tflops_per_device", t.tflops_per_device}, {"memory_gib", gib(t.memory_per_device)}, {"fits", t.fits},
                        {"breakdown_s", {{"compute", t.compute_s}, {"tp_comm", t.tp_comm_s}, {"pp_bubble", t.pp_bubble_s},
                                         {"dp_comm", t.dp_comm_s}, {"optimizer", t.optimizer_s}}}};
    std::puts(j.dump(2).c_str());
    return;
  }
  std::printf("%s on %d × %s, %s, recompute %s\n", a.model.c_str(), a.count, prof.id.c_str(), r.layout.str().c_str(),
              r.recompute.c_str());
  std::printf("step        %.3f s (compute %.3f, TP comm %.3f, PP bubble %.3f, DP all-reduce %.3f, optimizer %.3f)\n",
              t.step_s, t.compute_s, t.tp_comm_s, t.pp_bubble_s, t.dp_comm_s, t.optimizer_s);
  std::printf("throughput  %.0f tokens/s per device, %.1f TFLOP/s per device, MFU %.1f %%\n", t.tokens_per_s_per_device,
              t.tflops_per_device, t.mfu * 100);
  std::printf("memory      %.1f GiB per device: %s\n", gib(t.memory_per_device), t.fits ? "fits" : "DOES NOT FIT");
  for (const auto& n : t.notes) std::printf("note        %s\n", n.c_str());
}

void run_plan(const PlanArgs& a) {
  if (a.train) return run_train(a);
  const perf::DeviceProfile& prof = profile_or_fail(a.device);
  const plan::Request r = request_of(a);
  plan::Planner planner(prof, a.framework);
  const bool given = a.tp || a.pp || a.ep || a.dp;
  if (given) {
    const int tp = a.tp ? a.tp : 1, pp = a.pp ? a.pp : 1;
    const int devices = r.disagg.decode_devices > 0 ? r.disagg.decode_devices : a.count;
    DB_CHECK(devices % (tp * pp) == 0, "[plan] TP{} × PP{} does not divide {} devices", tp, pp, devices);
    const plan::Layout l{tp, pp, a.ep ? a.ep : 1, a.dp ? a.dp : devices / (tp * pp), false};
    const plan::Estimate e = planner.estimate(r, l);
    if (a.json) return (void)std::puts(to_json(e).dump(2).c_str());
    std::printf("%s on %d × %s (%s weights, %s KV), %d in / %d out\n", a.model.c_str(), a.count, prof.id.c_str(),
                r.precision.weight.c_str(), r.precision.kv.c_str(), a.input_len, a.output_len);
    return print_estimate(e, r);
  }
  const auto start = std::chrono::steady_clock::now();
  auto progress = [&](double f) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (s > 0.5 && !a.json) std::fprintf(stderr, "\rsearching [%-30s] %3.0f %%", std::string(size_t(f * 30), '#').c_str(), f * 100);
  };
  const auto all = planner.search(r, progress);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (secs > 0.5 && !a.json) std::fputs("\n", stderr);
  DB_CHECK(!all.empty(), "[plan] no layout of {} × {} holds {} ({} weights)", a.count, prof.id, a.model, a.weight_dtype);
  std::vector<plan::Estimate> front;
  for (const auto& c : all)
    if (c.pareto) front.push_back(c.e);
  std::sort(front.begin(), front.end(), [](const auto& x, const auto& y) { return x.tpot_s < y.tpot_s; });
  if (a.json) {
    nlohmann::json j = {{"candidates", all.size()}, {"search_s", secs}, {"pareto", nlohmann::json::array()}};
    for (const auto& e : front) j["pareto"].push_back(to_json(e));
    return (void)std::puts(j.dump(2).c_str());
  }
  std::printf("%s on %d × %s (%s weights), %d in / %d out: %zu candidates in %.2f s; Pareto frontier:\n\n", a.model.c_str(),
              a.count, prof.id.c_str(), r.precision.weight.c_str(), a.input_len, a.output_len, all.size(), secs);
  std::printf("%-28s %8s %10s %10s %14s %12s\n", "layout", "batch", "TTFT ms", "TPOT ms", "tok/s system", "tok/s/device");
  for (const auto& e : front)
    std::printf("%-28s %8d %10.1f %10.2f %14.0f %12.1f\n", e.layout.str().c_str(), e.batch, e.ttft_s * 1e3, e.tpot_s * 1e3,
                e.output_tok_s, e.output_tok_s_per_device);
}

struct CompareArgs {
  std::string model = "llama-3.1-8b", devices, out = "drawbridge-compare", weight_dtype = "bf16";
  int count = 1, input_len = 1000, output_len = 1000;
  double max_tpot_ms = 50;
};

plan::CompareRow compare_one(const perf::DeviceProfile& prof, const CompareArgs& a) {
  plan::CompareRow row;
  row.device = prof.id;
  row.name = prof.name;
  try {
    PlanArgs pa;
    pa.model = a.model;
    pa.count = a.count;
    pa.input_len = a.input_len;
    pa.output_len = a.output_len;
    pa.weight_dtype = a.weight_dtype;
    const plan::Request r = request_of(pa);
    plan::Planner planner(prof, "default");
    const auto all = planner.search(r);
    const plan::Estimate* best = nullptr;
    for (const auto& c : all)
      if (c.e.memory.fits && c.e.tpot_s * 1e3 <= a.max_tpot_ms && (!best || c.e.output_tok_s > best->output_tok_s)) best = &c.e;
    if (!best) {
      row.why = all.empty() ? "does not fit" : fmt::format("TPOT > {} ms", a.max_tpot_ms);
      return row;
    }
    row.fits = true;
    row.e = *best;
    if (const auto tdp = prof.number("power.tdp_w")) row.tok_s_per_kw = best->output_tok_s_per_device / *tdp * 1e3;
  } catch (const Error& e) {
    row.why = e.what();
  }
  return row;
}

void run_compare(const CompareArgs& a) {
  std::vector<const perf::DeviceProfile*> devices;
  if (a.devices.empty()) {
    for (const auto& p : perf::catalogue()) devices.push_back(&p);
  } else {
    size_t start = 0;
    while (start <= a.devices.size()) {
      const size_t end = std::min(a.devices.find(',', start), a.devices.size());
      devices.push_back(&profile_or_fail(a.devices.substr(start, end - start)));
      start = end + 1;
    }
  }
  plan::find_model(a.model);  // fail early on an unknown id
  DB_CHECK(a.count >= 1 && a.input_len >= 1 && a.output_len >= 1, "[compare] --count, --input-len and --output-len must be at least 1");
  std::vector<plan::CompareRow> rows;
  for (const auto* p : devices) rows.push_back(compare_one(*p, a));
  std::stable_sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) {
    return x.fits != y.fits ? x.fits : x.e.output_tok_s_per_device > y.e.output_tok_s_per_device;
  });
  const plan::CompareSpec spec{a.model, a.count, a.input_len, a.output_len, a.max_tpot_ms, a.weight_dtype};
  std::fputs(plan::compare_table(spec, rows).c_str(), stdout);
  std::filesystem::create_directories(a.out);
  const auto write = [](const std::filesystem::path& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    DB_CHECK(f && (f << text), "[compare] cannot write {}", path.string());
  };
  write(std::filesystem::path(a.out) / "compare.svg", plan::compare_svg(spec, rows));
  write(std::filesystem::path(a.out) / "compare.html", plan::compare_html(spec, rows));
  std::printf("\nwrote %s/compare.svg and %s/compare.html\n", a.out.c_str(), a.out.c_str());
}

}  // namespace

void register_plan(CLI::App& app) {
  static PlanArgs a;
  auto* cmd = app.add_subcommand("plan", "Predict memory, latency, throughput and cost of a model on N devices");
  cmd->add_option("--model", a.model, "Model id (e.g. llama-3.1-8b)")->required();
  cmd->add_option("--device", a.device, "Device profile id (see drawbridge devices)")->required();
  cmd->add_option("--count", a.count, "Number of devices");
  cmd->add_option("--tp", a.tp, "Tensor-parallel degree (omit all four to search)");
  cmd->add_option("--pp", a.pp, "Pipeline-parallel degree");
  cmd->add_option("--ep", a.ep, "Expert-parallel degree (MoE)");
  cmd->add_option("--dp", a.dp, "Data-parallel replicas");
  cmd->add_option("--batch", a.batch, "Fixed batch for the whole system (static batching)");
  cmd->add_option("--concurrency", a.concurrency, "Max requests in flight (continuous batching)");
  cmd->add_option("--input-len", a.input_len, "Prompt tokens per request");
  cmd->add_option("--output-len", a.output_len, "Generated tokens per request");
  cmd->add_option("--weight-dtype", a.weight_dtype, "f32 f16 bf16 fp8 int8 int4 q8_0 q4_0 (default bf16)");
  cmd->add_option("--kv-dtype", a.kv_dtype, "KV cache dtype (default: fp8 for fp8 weights, else bf16)");
  cmd->add_option("--spec-accept", a.spec_accept, "Speculative decoding: mean accepted tokens per step");
  cmd->add_option("--disaggregate", a.disaggregate, "Prefill:decode device split, e.g. 8:8");
  cmd->add_option("--framework", a.framework, "Serving framework overheads: default, trtllm, sglang, vllm");
  cmd->add_flag("--json", a.json, "Print JSON");
  cmd->add_flag("--train", a.train, "Training step instead of inference");
  cmd->add_option("--global-batch", a.global_batch, "Training: sequences per step");
  cmd->add_option("--seq-len", a.seq_len, "Training: sequence length");
  cmd->add_option("--micro-batch", a.micro_batch, "Training: sequences per micro-batch (default 1)");
  cmd->add_option("--recompute", a.recompute, "Training: full, selective or none (default selective)");
  cmd->callback([] { run_plan(a); });
}

void register_compare(CLI::App& app) {
  static CompareArgs a;
  auto* cmd = app.add_subcommand("compare", "One model across devices: table, SVG chart and HTML page");
  cmd->add_option("--model", a.model, "Model id (default llama-3.1-8b)");
  cmd->add_option("--devices", a.devices, "Comma-separated device ids (default: the whole catalogue)");
  cmd->add_option("--count", a.count, "Devices per system (default 1)");
  cmd->add_option("--input-len", a.input_len, "Prompt tokens (default 1000)");
  cmd->add_option("--output-len", a.output_len, "Generated tokens (default 1000)");
  cmd->add_option("--weight-dtype", a.weight_dtype, "Weight dtype (default bf16)");
  cmd->add_option("--max-tpot-ms", a.max_tpot_ms, "Latency target: best throughput with TPOT at most this (default 50)");
  cmd->add_option("--out", a.out, "Directory for compare.svg and compare.html (default drawbridge-compare)");
  cmd->callback([] { run_compare(a); });
}

}  // namespace db::cli
