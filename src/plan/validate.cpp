#include "plan/validate.h"

#include <algorithm>
#include <cmath>
#include <regex>

#include "drawbridge/error.h"
#include "plan/models.h"
#include "plan/planner.h"

namespace db::plan {

namespace {

struct Skip {
  std::string why;
};

// One 910C package is two dies, and engines treat each die as a device (measured-performance.md):
// the planner plans dies; per-device results are then scaled back to packages.
perf::DeviceProfile die_of(const perf::DeviceProfile& pkg) {
  perf::DeviceProfile die = pkg;
  die.id = pkg.id + "-die";
  for (auto& [path, f] : die.fields) {
    const bool halve = path.starts_with("compute.peak_tflops.") || path == "memory.capacity_gib" ||
                       path == "memory.bandwidth_gbps" || path == "link.bandwidth_gbps" || path == "power.tdp_w" ||
                       path == "price.list_usd";
    if (halve && std::holds_alternative<double>(f.value)) {
      f.value = f.number() / 2;
      f.note += " (halved: one die of the package)";
    }
  }
  return die;
}

bool is_dual_die(const std::string& hardware) { return hardware == "ascend-910c"; }

int notes_int(const std::string& source, const char* pattern) {
  std::smatch m;
  if (std::regex_search(source, m, std::regex(pattern))) return std::stoi(m[1]);
  return 0;
}

double gemm_prediction(const perf::DeviceProfile& prof, const perf::Point& p) {
  const std::string dtype = p.metric == "gemm_tops_int8" ? "int8" : p.weight_dtype;
  if (dtype.empty()) throw Skip{"GEMM dtype not stated"};
  // An 8192³ product through the cost model: the peak, the path (native or emulated), the
  // calibrated GEMM efficiency and the tile fit, exactly as the virtual devices charge it.
  const int64_t n = 8192;
  Graph g;
  const DType w = dtype == "int8" ? DType::I8 : dtype == "f32" ? DType::F32 : dtype == "f16" ? DType::F16 : DType::BF16;
  const int wid = g.leaf(make_tensor("w", w, {n, n, 1, 1}));
  const int xid = g.leaf(make_tensor("x", DType::F32, {n, n, 1, 1}));
  const int mm = g.add(Op::MatMul, make_tensor("y", DType::F32, {n, n, 1, 1}), {wid, xid, -1});
  const perf::CostModel cm(prof);
  const perf::OpEstimate e = cm.estimate(g, g.node(mm), dtype == "f32" ? "" : dtype);
  if (!e.unknown.empty()) throw Skip{e.unknown};
  return e.flops / e.compute_s / 1e12;  // the measured figure is the compute rate, launch cost aside
}

Layout layout_of(const perf::Point& p, int devices, std::string& assumed) {
  Layout l;
  if (!p.tp) {
    if (devices == 1) return l;
    if (p.source.find("PD-disagg") != std::string::npos) throw Skip{"PD-disaggregated layout not transcribed"};
    l.tp = devices;
    assumed += fmt::format("TP not stated: TP{} over all devices; ", devices);
    return l;
  }
  l.tp = *p.tp;
  l.pp = p.pp.value_or(1);
  l.ep = p.ep.value_or(1);
  l.dp = p.dp.value_or(1);
  if (l.tp * l.pp * l.dp > devices && l.dp > 1) {
    // SGLang --enable-dp-attention: attention DP inside the TP ranks; its MoE layers then run
    // expert-parallel over the same ranks (DeepEP), measured-performance.md "Parallel layout".
    l.attention_dp = true;
    if (!p.ep) {
      l.ep = l.tp;
      assumed += fmt::format("EP{} over the TP ranks (DP attention + DeepEP); ", l.tp);
    }
  }
  return l;
}

double serving_prediction(const perf::Point& p, std::string& assumed) {
  if (!p.count) throw Skip{"device count not stated"};
  if (!p.input_len || !p.output_len) {
    if (p.metric == "ttft_ms_mean" && p.input_len) {
    } else {
      throw Skip{"input/output lengths not stated"};
    }
  }
  if (p.source.find("accept not printed") != std::string::npos) throw Skip{"speculative decoding with unknown accept length"};
  const perf::DeviceProfile* prof = perf::find_profile(p.hardware);
  if (!prof) throw Skip{fmt::format("no device profile '{}'", p.hardware)};
  const bool dual = is_dual_die(p.hardware);
  const perf::DeviceProfile dev = dual ? die_of(*prof) : *prof;
  const int devices = *p.count * (dual ? 2 : 1);

  Request r;
  try {
    r.model = find_model(p.model);
  } catch (const Error& e) {
    throw Skip{fmt::format("no model profile '{}'", p.model)};
  }
  r.count = devices;
  r.precision.weight = p.weight_dtype.empty() ? "bf16" : p.weight_dtype;
  if (p.weight_dtype.empty()) assumed += "dtype not stated: bf16; ";
  if (p.act_dtype == "int8" || p.act_dtype == "fp8") r.precision.compute = p.act_dtype;
  const std::string framework = perf::calibration().framework_in(p.source).id;
  r.precision.kv = !p.kv_dtype.empty() ? p.kv_dtype : "bf16";
  if (p.kv_dtype.empty() && framework == "trtllm" && p.weight_dtype == "fp8") {
    // TensorRT-LLM's ModelOpt FP8 checkpoints quantize the KV cache too (kv_cache_quant_algo FP8).
    r.precision.kv = "fp8";
    assumed += "KV dtype not stated: fp8 (ModelOpt FP8 checkpoint default); ";
  }
  r.work.input_len = p.input_len.value_or(1);
  r.work.output_len = std::max(1, p.output_len.value_or(1));
  r.work.batch = p.batch.value_or(0);
  r.work.concurrency = p.concurrency.value_or(0);
  r.work.prompts = notes_int(p.source, R"((\d+) prompts)");
  r.work.spec_accept = p.spec_decode_accept.value_or(0);
  Layout l = layout_of(p, devices, assumed);
  if (p.source.find("PD-disagg") != std::string::npos) {
    const int decode = l.tp * l.pp * (l.attention_dp ? 1 : l.dp);
    if (decode >= devices) throw Skip{"PD-disaggregated layout not transcribed"};
    r.disagg = {devices - decode, decode};
    assumed += fmt::format("prefill on the other {} devices; ", devices - decode);
  } else if (l.tp * l.pp * (l.attention_dp ? 1 : l.dp) != devices) {
    if (!p.dp && devices % (l.tp * l.pp) == 0) l.dp = devices / (l.tp * l.pp);
    else throw Skip{fmt::format("layout {} does not cover the {} devices", l.str(), devices)};
  }
  Planner planner(dev, framework);
  const Estimate e = planner.estimate(r, l);
  if (!e.memory.fits) throw Skip{fmt::format("predicted not to fit ({:.0f} GiB weights per device)", e.memory.weights / (1 << 30))};
  const double per_pkg = dual ? 2 : 1;
  if (p.metric == "output_tok_s") return e.output_tok_s;
  if (p.metric == "output_tok_s_per_device") return e.output_tok_s / *p.count;
  if (p.metric == "total_tok_s") return e.total_tok_s;
  if (p.metric == "ttft_ms_mean") return e.ttft_s * 1e3;
  if (p.metric == "tpot_ms_mean" || p.metric == "itl_ms_mean") return e.tpot_s * 1e3;
  if (p.metric == "prefill_tok_s_per_device") return e.prefill_tok_s_per_device * per_pkg;
  if (p.metric == "decode_tok_s_per_device") return e.decode_tok_s_per_device * per_pkg;
  throw Skip{fmt::format("metric {} is not predicted", p.metric)};
}

double training_prediction(const perf::Point& p, std::string& assumed) {
  if (!p.count || !p.batch || !p.input_len || !p.tp) throw Skip{"sequence length, batch or layout not stated"};
  const perf::DeviceProfile* prof = perf::find_profile(p.hardware);
  if (!prof) throw Skip{fmt::format("no device profile '{}'", p.hardware)};
  TrainRequest r;
  try {
    r.model = find_model(p.model);
  } catch (const Error&) {
    throw Skip{fmt::format("no model profile '{}'", p.model)};
  }
  r.count = *p.count;
  r.layout = {*p.tp, p.pp.value_or(1), 1, p.dp.value_or(1), false};
  r.global_batch = *p.batch;
  r.seq_len = *p.input_len;
  r.dtype = p.weight_dtype.empty() ? "f16" : p.weight_dtype;
  if (p.weight_dtype.empty()) assumed += "precision not stated: f16 (as K01); ";
  // Korthikanti et al. Table 5 rows: -a full recomputation, -b selective + sequence parallelism.
  r.recompute = p.id.ends_with("-a") ? "full" : "selective";
  Planner planner(*prof, "default");
  const TrainEstimate t = estimate_training(planner, r);
  if (p.metric == "train_step_s") return t.step_s;
  if (p.metric == "train_tok_s_per_device") return t.tokens_per_s_per_device;
  if (p.metric == "train_tflops_per_device") return t.tflops_per_device;
  throw Skip{fmt::format("metric {} is not predicted", p.metric)};
}

}  // namespace

std::optional<double> median_abs_error_of(std::vector<double> e) {
  if (e.empty()) return std::nullopt;
  std::sort(e.begin(), e.end());
  const size_t n = e.size();
  return n % 2 ? e[n / 2] : (e[n / 2 - 1] + e[n / 2]) / 2;
}

Prediction predict(const perf::Point& p) {
  Prediction out;
  out.point = &p;
  try {
    if (p.metric == "images_per_s") throw Skip{"not an LLM workload"};
    if (p.metric == "allgather_busbw_gbs") {
      const perf::DeviceProfile* prof = perf::find_profile(p.hardware);
      if (!prof) throw Skip{fmt::format("no device profile '{}'", p.hardware)};
      if (!p.count) throw Skip{"device count not stated"};
      out.predicted = perf::Collectives(*prof).bus_bandwidth(perf::Collective::AllGather, {*p.count, 1}) / 1e9;
      out.assumed = "calibration row for its link class";
    } else if (p.metric == "gemm_tflops" || p.metric == "gemm_tops_int8") {
      const perf::DeviceProfile* prof = perf::find_profile(p.hardware);
      if (!prof) throw Skip{fmt::format("no device profile '{}'", p.hardware)};
      out.predicted = gemm_prediction(*prof, p);
    } else if (p.metric.starts_with("train_")) {
      out.predicted = training_prediction(p, out.assumed);
    } else if (p.metric.starts_with("llamabench")) {
      throw Skip{"llama-bench rows are predicted by `drawbridge bench`, not the planner"};
    } else {
      out.predicted = serving_prediction(p, out.assumed);
    }
  } catch (const Skip& s) {
    out.skipped = s.why;
    out.predicted.reset();
  } catch (const Error& e) {
    out.skipped = e.what();
    out.predicted.reset();
  }
  return out;
}

std::vector<Prediction> predict_all(const std::vector<perf::Point>& points) {
  std::vector<Prediction> out;
  for (const perf::Point& p : points) out.push_back(predict(p));
  return out;
}

}  // namespace db::plan
