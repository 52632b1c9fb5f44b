// Training step model: Megatron-style TP (two all-reduces per layer forward, two backward), 1F1B
// pipeline (bubble of pp-1 micro-batch slots), data-parallel gradient all-reduce after the last
// micro-batch, Adam update streamed from memory. Backward costs twice the forward's compute;
// recomputation adds the forward again (full) or only the attention core (selective,
// Korthikanti et al. 2022).
#include <algorithm>
#include <cmath>

#include "drawbridge/error.h"
#include "plan/planner.h"

namespace db::plan {

TrainEstimate estimate_training(Planner& planner, const TrainRequest& r) {
  const PlanModel& m = r.model;
  const ModelConfig& c = m.config;
  const Layout& l = r.layout;
  DB_CHECK(r.recompute == "full" || r.recompute == "selective" || r.recompute == "none",
           "[plan] --recompute must be full, selective or none (got '{}')", r.recompute);
  DB_CHECK(l.tp * l.pp * l.dp == r.count, "[plan] TP{} × PP{} × DP{} = {} devices, but --count is {}", l.tp, l.pp, l.dp,
           l.tp * l.pp * l.dp, r.count);
  DB_CHECK(c.n_head % l.tp == 0, "[plan] TP{} does not divide the {} attention heads of {}", l.tp, c.n_head, m.id);
  DB_CHECK(r.seq_len >= 1 && r.micro_batch >= 1, "[plan] --seq-len and the micro-batch must be at least 1");
  DB_CHECK(r.global_batch % (l.dp * r.micro_batch) == 0,
           "[plan] global batch {} is not a multiple of DP{} × micro-batch {}", r.global_batch, l.dp, r.micro_batch);
  const Precision prec{r.dtype, "", r.dtype};
  const perf::Collectives& comm = planner.collectives();
  const int micro = r.global_batch / (l.dp * r.micro_batch);
  const int64_t tokens = int64_t(r.micro_batch) * r.seq_len;
  const double act_bytes = double(tokens) * c.n_embd * 2;

  const LayerCost lc = planner.layer(m, prec, l.tp, tokens, r.micro_batch, r.seq_len, 0);
  const double fwd = lc.dense + lc.attention;
  const double recompute = r.recompute == "full" ? fwd : r.recompute == "selective" ? lc.attention : 0;
  const double ar = comm.seconds(perf::Collective::AllReduce, act_bytes, {l.tp, 1});
  const double comm_per_layer = (r.recompute == "full" ? 6 : 4) * ar;
  const double layers = std::ceil(double(c.n_layer) / l.pp);
  const double head = 3 * planner.head(m, prec, l.tp, tokens);
  const double stage = layers * (3 * fwd + recompute + comm_per_layer) + head;
  const double send = l.pp > 1 ? 2 * comm.seconds(perf::Collective::SendRecv, act_bytes, {2, l.tp}) : 0;

  TrainEstimate t;
  t.compute_s = micro * layers * (3 * fwd + recompute);
  t.tp_comm_s = micro * layers * comm_per_layer;
  t.pp_bubble_s = (l.pp - 1) * (stage + send);
  const double params_per_device = m.params() / (l.tp * l.pp);
  t.dp_comm_s = comm.seconds(perf::Collective::AllReduce, params_per_device * 2, {l.dp, l.tp * l.pp});
  // Adam with fp32 master weights: read and write weights, grads, two moments (16 B/param each way).
  t.optimizer_s = params_per_device * 32 / (planner.profile().bandwidth() *
                                            planner.profile().number("calibration.memory_efficiency").value_or(1.0));
  t.step_s = (micro + l.pp - 1) * (stage + send) + t.dp_comm_s + t.optimizer_s;
  const double step_tokens = double(r.global_batch) * r.seq_len;
  t.tokens_per_s_per_device = step_tokens / t.step_s / r.count;
  // Model FLOPs: forward 2·N per token plus causal attention, ×3 for backward.
  const double attn_flops = 2.0 * c.n_layer * double(c.n_head) * c.head_dim * r.seq_len;  // per token, causal
  const double model_flops = 3 * (2 * m.active_params() + attn_flops) * step_tokens;
  const double hw_factor = r.recompute == "full" ? 4.0 / 3.0 : 1.0;
  const auto peak = planner.profile().peak_flops(r.dtype == "f32" ? "f32" : r.dtype);
  if (peak) t.mfu = model_flops / (t.step_s * r.count * *peak);
  t.tflops_per_device = model_flops * hw_factor / t.step_s / r.count / 1e12;
  // Memory: 16 B/param (weights, grads, Adam) + activations (Korthikanti: 34·s·b·h bytes per layer
  // with selective recompute and sequence parallelism split over TP; 2·s·b·h with full recompute),
  // 1F1B keeps up to pp micro-batches in flight on the first stage.
  const double act_layer = r.recompute == "full" ? 2.0 * tokens * c.n_embd
                           : r.recompute == "selective" ? 34.0 * tokens * c.n_embd / l.tp
                                                        : (34.0 * tokens * c.n_embd + 5.0 * c.n_head * r.seq_len * tokens) / l.tp;
  t.memory_per_device = params_per_device * 16 + act_layer * layers * std::min(micro, l.pp);
  t.fits = t.memory_per_device <= double(planner.profile().memory_bytes());
  t.notes.push_back(fmt::format("{} micro-batches of {} per step; 1F1B bubble {} slots", micro, r.micro_batch, l.pp - 1));
  return t;
}

}  // namespace db::plan
