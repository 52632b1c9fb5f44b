// The planner: how a model runs on N devices of one profile, before anyone buys them. Per-op
// times come from the operator graph the src/llm builder makes (meta weights, shapes only), costed
// by perf::CostModel — the same model the sim:<chip> virtual devices charge. The model's two kinds
// of layer (PlanModel::pair) are built per device and costed per distinct (shard, token count,
// context), then reused for every layer of that kind and every candidate layout. Communication comes from perf::Collectives; per-step framework overheads
// from data/calibration/planner.toml.
#pragma once
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "drawbridge/model.h"
#include "perf/calibration.h"
#include "perf/collectives.h"
#include "perf/cost_model.h"

namespace db::plan {

// A model as the planner costs it: the real architecture (data/models/<id>.toml) and two layers
// that stand for all of them. `pair` is the config with n_layer = 2 whose layer 0 and layer 1 have
// the model's two kinds of token mixing (DeltaNet or windowed / full attention) and of FFN (dense /
// MoE); mixing_layers and ffn_layers count how many of the real layers are of each kind. The
// planner builds `pair` sharded per device with build_forward and costs every op of it.
struct PlanModel {
  std::string id;
  ModelConfig config;
  ModelConfig pair;
  std::array<int, 2> mixing_layers{};  // real layers whose token mixing is that of pair layer 0 / 1
  std::array<int, 2> ffn_layers{};     // real layers whose FFN is that of pair layer 0 / 1
  double n_params = 0, n_params_active = 0;  // from the real config's tensors
  std::vector<std::string> notes;  // what the graph does not capture
  bool moe() const { return config.moe.enabled(); }
  double params() const { return n_params; }                // all parameters
  double active_params() const { return n_params_active; }  // parameters one token uses
};

// A number format by name: f32 f16 bf16 fp8 int8 int4 q8_0 q4_0.
struct Precision {
  std::string weight = "bf16";  // weights
  std::string compute;          // matrix compute format ("" = from weights: fp8→fp8, int8/int4→int8)
  std::string kv = "bf16";      // KV cache
};
double bytes_per_element(const std::string& dtype);  // throws "[plan] unknown dtype"

struct Layout {
  int tp = 1, pp = 1, ep = 1, dp = 1;
  bool attention_dp = false;  // SGLang --enable-dp-attention: attention data-parallel inside the TP ranks
  int devices() const { return tp * pp * dp; }
  std::string str() const;
};

struct Workload {
  int input_len = 0;
  int output_len = 0;
  int batch = 0;        // fixed batch for the whole system (static batching), or 0
  int concurrency = 0;  // continuous batching: max requests in flight (whole system), or 0
  int prompts = 0;      // requests in the run (0: the concurrency, one wave)
  double spec_accept = 0;  // mean accepted tokens per verification step (0/1: none)
  int spec_draft_tokens = 4;  // tokens verified per step when speculating
};

struct Disaggregation {
  int prefill_devices = 0;  // 0: prefill and decode share devices
  int decode_devices = 0;
};

struct Memory {
  double weights = 0, kv_cache = 0, activations = 0, capacity = 0;  // bytes per device
  bool fits = false;
  int max_sequences = 0;  // per replica, at the full context, limited by KV capacity
};

struct Estimate {
  Layout layout;
  int batch = 0;  // sequences decoding together per replica
  Memory memory;
  double ttft_s = 0, tpot_s = 0;
  double output_tok_s = 0;  // whole system
  double output_tok_s_per_device = 0;
  double prefill_tok_s_per_device = 0, decode_tok_s_per_device = 0;
  double total_tok_s = 0;
  std::optional<double> joules_per_mtok, usd_per_mtok;  // when the profile has TDP / price
  std::vector<std::string> notes;     // what was assumed
  std::vector<std::string> unknowns;  // what made a number a lower bound
};

struct Request {
  PlanModel model;
  int count = 1;
  std::optional<Layout> layout;  // none: search
  Workload work;
  Precision precision;
  Disaggregation disagg;
  std::string framework = "default";
};

// One average layer on one device of a TP group (seconds), split by what scales with what.
struct LayerCost {
  double dense = 0;      // token-level ops: projections, norms, FFN (scale with tokens)
  double attention = 0;  // per-sequence ops: attention core, cache writes, DeltaNet state updates
};

class Planner {
 public:
  Planner(const perf::DeviceProfile& profile, std::string framework = "default");

  Estimate estimate(const Request& r, const Layout& layout, int batch_limit = 0);
  // All feasible layouts and batches; the Pareto frontier (system throughput vs TPOT) is marked.
  struct Candidate {
    Estimate e;
    bool pareto = false;
  };
  std::vector<Candidate> search(const Request& r, const std::function<void(double)>& progress = {});

  const perf::DeviceProfile& profile() const { return cost_.profile(); }
  const perf::Collectives& collectives() const { return comm_; }
  const perf::FrameworkClass& framework() const { return *framework_; }

  // The average decoder layer (token mixing and FFN, TP-sharded, experts split over TP) on one
  // device of a TP group: `seqs` sequences of `new_per_seq` tokens after `past`, `tokens` in all.
  LayerCost layer(const PlanModel& m, const Precision& p, int tp, int64_t tokens, int seqs, int new_per_seq,
                  int past);
  // Embedding + final norm + logits for `tokens` tokens on one device (vocabulary split over tp).
  double head(const PlanModel& m, const Precision& p, int tp, int64_t tokens);
  // Time of one forward over the replica: `seqs` sequences, `new_per_seq` new tokens each after
  // `past` cached. Includes TP/EP communication and pipeline sends, excludes framework overhead.
  double forward(const PlanModel& m, const Precision& p, const Layout& l, int seqs, int new_per_seq, int past);
  Memory memory(const PlanModel& m, const Precision& p, const Layout& l, int context, int seqs);
  size_t cached_shapes() const { return cache_.size(); }

 private:
  // Costs of the two layers of PlanModel::pair built for one device (seconds).
  struct PairCost {
    std::array<double, 2> mixing_tokens{};     // token-level mixing ops, all tokens
    std::array<double, 2> mixing_sequences{};  // per-sequence mixing ops, all sequences
    std::array<double, 2> ffn{};               // FFN ops (incl. router, experts, shared experts)
    double head = 0;                           // embeddings, final norm, logits
  };
  struct Key {
    std::string model;
    int tp, ep, seqs, new_per_seq, past;
    int64_t tokens;
    std::string weight, kv, compute;
    auto tie() const { return std::tie(model, tp, ep, seqs, new_per_seq, past, tokens, weight, kv, compute); }
    bool operator<(const Key& o) const { return tie() < o.tie(); }
  };
  // The pair sharded over `tp` (experts over `ep`), `tokens` tokens of `seqs` sequences.
  const PairCost& pair_cost(const PlanModel& m, const Precision& p, int tp, int ep, int64_t tokens, int seqs,
                            int new_per_seq, int past);
  // Weight bytes per device of one layer of each pair kind: mixing, FFN.
  std::array<double, 4> layer_weight_bytes(const PlanModel& m, const Precision& p, int tp_attn, int tp, int ep);

  perf::CostModel cost_;
  perf::Collectives comm_;
  const perf::FrameworkClass* framework_;
  std::map<Key, PairCost> cache_;
  std::map<std::tuple<std::string, int, int, int, std::string>, std::array<double, 4>> weight_cache_;
  std::vector<std::string> unknowns_;
};

// Training: one optimizer step of a global batch.
struct TrainRequest {
  PlanModel model;
  int count = 1;
  Layout layout;          // tp × pp × dp = count
  int global_batch = 1;   // sequences per step
  int micro_batch = 1;
  int seq_len = 2048;
  std::string dtype = "bf16";
  std::string recompute = "selective";  // full | selective | none
};

struct TrainEstimate {
  double step_s = 0;
  double tokens_per_s_per_device = 0;
  double mfu = 0;                   // model FLOPs (6·N·tokens + attention) / (step · devices · peak)
  double tflops_per_device = 0;     // hardware FLOPs including recomputation, as MindSpeed reports
  double compute_s = 0, tp_comm_s = 0, pp_bubble_s = 0, dp_comm_s = 0, optimizer_s = 0;
  double memory_per_device = 0;
  bool fits = false;
  std::vector<std::string> notes;
};
TrainEstimate estimate_training(Planner& planner, const TrainRequest& r);

}  // namespace db::plan
