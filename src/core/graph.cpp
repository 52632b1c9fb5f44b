// Graph construction with validation at the edge: every op checks its operands and names itself
// in the message, so a malformed model fails while building, not inside a kernel.
#include "drawbridge/graph.h"

#include <algorithm>
#include <cmath>

#include "drawbridge/error.h"

namespace db {

std::string_view op_name(Op op) {
  static constexpr std::string_view names[] = {
      "leaf", "view", "embed", "matmul", "add", "mul", "scale", "rms_norm", "rope",
      "silu", "gelu", "swiglu", "softmax", "kv_store", "attention", "convert", "layer_norm",
      "matmul_id", "top_k", "gather", "weighted_sum", "concat", "sigmoid", "softplus", "relu",
      "short_conv", "delta_net"};
  static_assert(sizeof(names) / sizeof(names[0]) == size_t(Op::kCount));
  return names[size_t(op)];
}

int Graph::leaf(const Tensor& t) {
  Node n;
  n.op = Op::Leaf;
  n.out = t;
  nodes_.push_back(std::move(n));
  return int(nodes_.size()) - 1;
}

namespace {

bool same_shape(const Tensor& a, const Tensor& b) { return a.ne == b.ne; }

// Operand checks per op. `s` are the source tensors (null where absent).
void validate(Op op, const Tensor& out, const std::array<const Tensor*, 3>& s, const OpParams& p) {
  const std::string_view name = op_name(op);
  auto need = [&](int i) -> const Tensor& {
    DB_CHECK(s[size_t(i)] != nullptr, "[{}] '{}': operand {} is missing", name, out.name, i);
    return *s[size_t(i)];
  };
  auto f32 = [&](const Tensor& t) {
    DB_CHECK(t.dtype == DType::F32, "[{}] '{}': operand '{}' must be f32, is {}", name, out.name,
             t.name, dtype_name(t.dtype));
  };
  switch (op) {
    case Op::Embed: {
      const Tensor &table = need(0), &ids = need(1);
      DB_CHECK(ids.dtype == DType::I32, "[embed] ids must be i32");
      DB_CHECK(out.ne[0] == table.ne[0] && out.ne[1] == ids.ne[0], "[embed] '{}': output shape {} does not match table {} and {} ids",
               out.name, out.shape_str(), table.shape_str(), ids.ne[0]);
      break;
    }
    case Op::MatMul: {
      const Tensor &w = need(0), &x = need(1);
      f32(x);
      DB_CHECK(w.ne[0] == x.ne[0], "[matmul] '{}': inner dimensions differ: {} {} × {} {}", out.name,
               w.name, w.shape_str(), x.name, x.shape_str());
      DB_CHECK(out.ne[0] == w.ne[1] && out.ne[1] == x.ne[1] && out.ne[2] == x.ne[2],
               "[matmul] '{}': output shape {} does not match {} × {}", out.name, out.shape_str(),
               w.shape_str(), x.shape_str());
      DB_CHECK(w.ne[2] == 1 && w.ne[3] == 1, "[matmul] '{}': batched weights are not supported", out.name);
      break;
    }
    case Op::Add:
    case Op::Mul: {
      const Tensor &a = need(0), &b = need(1);
      f32(a);
      f32(b);
      DB_CHECK(b.ne[0] == a.ne[0] && (b.nrows() == 1 || b.nrows() == a.nrows()),
               "[{}] '{}': shapes {} and {} do not broadcast", name, out.name, a.shape_str(), b.shape_str());
      DB_CHECK(same_shape(out, a), "[{}] '{}': output shape differs from operand", name, out.name);
      break;
    }
    case Op::Scale:
    case Op::Silu:
    case Op::Gelu:
    case Op::SoftMax:
      f32(need(0));
      DB_CHECK(same_shape(out, need(0)), "[{}] '{}': output shape differs from operand", name, out.name);
      break;
    case Op::RmsNorm:
      f32(need(0));
      if (s[1]) DB_CHECK(s[1]->ne[0] == s[0]->ne[0] && s[1]->nrows() == 1,
                         "[rms_norm] '{}': weight {} does not match rows of {}", out.name,
                         s[1]->shape_str(), s[0]->shape_str());
      break;
    case Op::SwiGlu:
      f32(need(0));
      f32(need(1));
      DB_CHECK(same_shape(*s[0], *s[1]), "[swiglu] '{}': gate {} and up {} differ", out.name,
               s[0]->shape_str(), s[1]->shape_str());
      break;
    case Op::Rope: {
      const Tensor &x = need(0), &pos = need(1);
      f32(x);
      DB_CHECK(pos.dtype == DType::I32 && pos.ne[0] == x.ne[2],
               "[rope] '{}': needs one i32 position per token ({} tokens, {} positions)", out.name,
               x.ne[2], pos.ne[0]);
      DB_CHECK(p.i[0] > 0 && p.i[0] <= x.ne[0] && p.i[0] % 2 == 0,
               "[rope] '{}': rotary dims {} invalid for head size {}", out.name, p.i[0], x.ne[0]);
      if (s[2]) DB_CHECK(s[2]->dtype == DType::F32 && s[2]->ne[0] >= p.i[0] / 2,
                         "[rope] '{}': freq factors need {} f32 values", out.name, p.i[0] / 2);
      break;
    }
    case Op::KvStore: {
      const Tensor &x = need(0), &cache = need(1);
      f32(x);
      DB_CHECK(x.ne[0] == cache.ne[0] && x.ne[1] == cache.ne[1],
               "[kv_store] '{}': {} does not fit cache rows {}", out.name, x.shape_str(), cache.shape_str());
      DB_CHECK(p.i[0] >= 0 && p.i[0] + x.ne[2] <= cache.ne[2],
               "[kv_store] '{}': positions {}..{} exceed the cache of {}", out.name, p.i[0],
               p.i[0] + x.ne[2], cache.ne[2]);
      break;
    }
    case Op::Attention: {
      const Tensor &q = need(0), &k = need(1);
      f32(q);
      DB_CHECK(q.ne[0] == k.ne[0] && k.ne[1] > 0 && q.ne[1] % k.ne[1] == 0,
               "[attention] '{}': q {} incompatible with k {}", out.name, q.shape_str(), k.shape_str());
      if (s[2] && s[2]->dtype != DType::I32) {
        const Tensor& v = *s[2];
        DB_CHECK(v.ne[1] == k.ne[1] && v.ne[2] == k.ne[2] && v.ne[0] == out.ne[0],
                 "[attention] '{}': v {} does not match k {} and output {}", out.name, v.shape_str(),
                 k.shape_str(), out.shape_str());
      } else {
        DB_CHECK(out.ne[0] <= k.ne[0], "[attention] '{}': values of {} are wider than the {} key columns they share",
                 out.name, out.ne[0], k.ne[0]);
        if (s[2]) DB_CHECK(s[2]->ne[1] == q.ne[2], "[attention] '{}': key indices {} need one row per query ({})",
                           out.name, s[2]->shape_str(), q.ne[2]);
      }
      DB_CHECK(out.ne[1] == q.ne[1] && out.ne[2] == q.ne[2], "[attention] '{}': output {} does not match q {}",
               out.name, out.shape_str(), q.shape_str());
      DB_CHECK(p.i[0] >= 0 && p.i[0] + q.ne[2] <= k.ne[2], "[attention] '{}': {} past + {} new tokens exceed the cache of {}",
               out.name, p.i[0], q.ne[2], k.ne[2]);
      DB_CHECK(p.i[1] >= 0, "[attention] '{}': sliding window {} is negative", out.name, p.i[1]);
      break;
    }
    case Op::LayerNorm:
      f32(need(0));
      for (int i : {1, 2})
        if (s[size_t(i)]) DB_CHECK(s[size_t(i)]->ne[0] == s[0]->ne[0] && s[size_t(i)]->nrows() == 1,
                                   "[layer_norm] '{}': {} {} does not match rows of {}", out.name,
                                   i == 1 ? "weight" : "bias", s[size_t(i)]->shape_str(), s[0]->shape_str());
      DB_CHECK(same_shape(out, *s[0]), "[layer_norm] '{}': output shape differs from operand", out.name);
      break;
    case Op::MatMulId: {
      const Tensor &w = need(0), &x = need(1);
      f32(x);
      const bool tr = p.i[0] != 0;
      const int64_t K = tr ? w.ne[1] : w.ne[0], N = tr ? w.ne[0] : w.ne[1], X = w.ne[2];
      const int64_t S = s[2] ? s[2]->ne[0] : X;
      DB_CHECK(w.ne[3] == 1 && x.ne[3] == 1, "[matmul_id] '{}': 4-D operands are not supported", out.name);
      DB_CHECK(x.ne[0] == K && (x.ne[1] == 1 || x.ne[1] == S),
               "[matmul_id] '{}': input {} does not fit experts {} ({} slots)", out.name, x.shape_str(), w.shape_str(), S);
      if (s[2]) DB_CHECK(s[2]->dtype == DType::I32 && s[2]->ne[1] == x.ne[2],
                         "[matmul_id] '{}': expert ids {} need i32 [slots, {}]", out.name, s[2]->shape_str(), x.ne[2]);
      DB_CHECK(out.ne[0] == N && out.ne[1] == S && out.ne[2] == x.ne[2],
               "[matmul_id] '{}': output shape {} does not match experts {} × input {}", out.name, out.shape_str(),
               w.shape_str(), x.shape_str());
      break;
    }
    case Op::TopK:
      f32(need(0));
      DB_CHECK(out.dtype == DType::I32 && out.ne[1] == s[0]->ne[1] && out.ne[0] >= 1 && out.ne[0] <= s[0]->ne[0],
               "[top_k] '{}': output {} must be i32 [k <= {}, {}]", out.name, out.shape_str(), s[0]->ne[0], s[0]->ne[1]);
      break;
    case Op::Gather:
      f32(need(0));
      DB_CHECK(need(1).dtype == DType::I32 && s[1]->ne[1] == s[0]->ne[1] &&
                   out.ne[0] == s[1]->ne[0] && out.ne[1] == s[1]->ne[1],
               "[gather] '{}': indices {} do not fit values {} / output {}", out.name, s[1]->shape_str(),
               s[0]->shape_str(), out.shape_str());
      break;
    case Op::WeightedSum:
      f32(need(0));
      f32(need(1));
      DB_CHECK(s[1]->ne[0] == s[0]->ne[1] && s[1]->ne[1] == s[0]->ne[2] && out.ne[0] == s[0]->ne[0] &&
                   out.ne[1] == s[0]->ne[2] && out.ne[2] == 1,
               "[weighted_sum] '{}': {} weighted by {} cannot give {}", out.name, s[0]->shape_str(), s[1]->shape_str(),
               out.shape_str());
      break;
    case Op::Concat:
      f32(need(0));
      f32(need(1));
      DB_CHECK(s[1]->ne[2] == s[0]->ne[2] && (s[1]->ne[1] == s[0]->ne[1] || s[1]->ne[1] == 1) &&
                   out.ne[0] == s[0]->ne[0] + s[1]->ne[0] && out.ne[1] == s[0]->ne[1] && out.ne[2] == s[0]->ne[2],
               "[concat] '{}': {} and {} cannot give {}", out.name, s[0]->shape_str(), s[1]->shape_str(), out.shape_str());
      break;
    case Op::Sigmoid:
    case Op::Softplus:
    case Op::Relu:
      f32(need(0));
      DB_CHECK(same_shape(out, *s[0]), "[{}] '{}': output shape differs from operand", name, out.name);
      break;
    case Op::ShortConv: {
      const Tensor &x = need(0), &w = need(1), &st = need(2);
      f32(x);
      f32(w);
      f32(st);
      DB_CHECK(w.ne[1] == x.ne[0] && w.ne[0] >= 1 && st.ne[0] == x.ne[0] && st.ne[1] == w.ne[0] - 1 &&
                   same_shape(out, x),
               "[short_conv] '{}': input {}, weights {} and state {} do not fit", out.name, x.shape_str(),
               w.shape_str(), st.shape_str());
      break;
    }
    case Op::DeltaNet: {
      const Tensor &x = need(0), &gates = need(1), &st = need(2);
      f32(x);
      f32(gates);
      f32(st);
      const int64_t Hk = p.i[0], Dk = p.i[1], Hv = p.i[2], Dv = p.i[3];
      DB_CHECK(Hk > 0 && Dk > 0 && Hv > 0 && Dv > 0 && Hv % Hk == 0,
               "[delta_net] '{}': heads {}x{} (keys) / {}x{} (values) are invalid", out.name, Hk, Dk, Hv, Dv);
      DB_CHECK(x.ne[0] == 2 * Hk * Dk + Hv * Dv && gates.ne[0] == 2 && gates.ne[1] == Hv && gates.ne[2] == x.ne[1] &&
                   st.ne[0] == Dk && st.ne[1] == Dv && st.ne[2] == Hv && out.ne[0] == Dv && out.ne[1] == Hv &&
                   out.ne[2] == x.ne[1],
               "[delta_net] '{}': q|k|v {}, gates {}, state {} and output {} do not fit", out.name, x.shape_str(),
               gates.shape_str(), st.shape_str(), out.shape_str());
      break;
    }
    case Op::Convert:
      DB_CHECK(need(0).nelements() == out.nelements(), "[convert] '{}': element counts differ", out.name);
      break;
    case Op::Leaf:
    case Op::View:
    case Op::kCount:
      break;
  }
}

}  // namespace

int Graph::add(Op op, Tensor out, std::array<int, 3> src, OpParams params) {
  std::array<const Tensor*, 3> s{};
  for (size_t i = 0; i < 3; ++i) {
    if (src[i] < 0) continue;
    DB_CHECK(src[i] < int(nodes_.size()), "[{}] '{}': operand {} refers to a later node", op_name(op),
             out.name, i);
    s[i] = &nodes_[size_t(src[i])].out;
  }
  validate(op, out, s, params);
  Node n;
  n.op = op;
  n.out = std::move(out);
  n.out.data = nullptr;
  n.src = src;
  n.params = params;
  nodes_.push_back(std::move(n));
  return int(nodes_.size()) - 1;
}

int Graph::view(int src, std::string name, std::array<int64_t, kMaxDims> ne,
                std::array<size_t, kMaxDims> nb, size_t offset) {
  const Node& base = node(src);
  Node n;
  n.op = Op::View;
  n.out.name = std::move(name);
  n.out.dtype = base.out.dtype;
  n.out.ne = ne;
  n.out.nb = nb;
  n.src = {src, -1, -1};
  n.params.i[0] = int64_t(offset);
  n.view_of = base.op == Op::View ? base.view_of : src;
  nodes_.push_back(std::move(n));
  return int(nodes_.size()) - 1;
}

int Graph::reshape(int src, std::string name, std::array<int64_t, kMaxDims> ne) {
  const Tensor& t = node(src).out;
  DB_CHECK(t.is_contiguous(), "[reshape] '{}': source '{}' is not contiguous", name, t.name);
  Tensor shaped = make_tensor(name, t.dtype, ne);
  DB_CHECK(shaped.nelements() == t.nelements(), "[reshape] '{}': {} elements cannot become {}", name,
           t.nelements(), shaped.nelements());
  return view(src, std::move(name), ne, shaped.nb, 0);
}

double expected_experts_touched(double n_expert, double k, double n_tokens) {
  if (n_expert <= 0 || k <= 0 || n_tokens <= 0) return 0;
  return n_expert * (1.0 - std::pow(1.0 - std::min(k / n_expert, 1.0), n_tokens));
}

namespace {

// Keys a query attends to on average: everything before it (causal), at most the window, at most
// the selected top-k keys.
double attended_keys(const Node& n, double T) {
  const double past = double(n.params.i[0]), window = double(n.params.i[1]);
  double keys = past + T / 2.0;  // causal average
  if (window > 0) keys = std::min(keys, window);
  return keys;
}

OpCost attention_cost(const Graph& g, const Node& n) {
  OpCost c;
  const Tensor& q = g.node(n.src[0]).out;
  const Tensor& k = g.node(n.src[1]).out;
  const bool shared_v = n.src[2] < 0 || g.node(n.src[2]).out.dtype == DType::I32;
  const double T = double(q.ne[2]), H = double(q.ne[1]), Dk = double(q.ne[0]), Dv = double(n.out.ne[0]);
  double keys = attended_keys(n, T);
  double rows = double(n.params.i[0]) + T;  // cache rows read (once per kv head group)
  if (n.params.i[1] > 0) rows = std::min(rows, double(n.params.i[1]) + T - 1.0);
  if (n.src[2] >= 0 && shared_v) {  // sparse: each query reads its own k selected rows
    const double sel = double(g.node(n.src[2]).out.ne[0]);
    keys = std::min(keys, sel);
    rows = std::min(rows, sel * T);
  }
  c.flops = 2.0 * H * T * keys * (Dk + Dv);
  const double kv_rows = shared_v ? 1.0 : 2.0;  // MLA reads one latent row for keys and values
  c.bytes_read = kv_rows * double(k.nb[2]) * rows + double(q.nbytes());
  c.bytes_written = double(n.out.nbytes());
  return c;
}

// Only the experts some token is routed to are read: E·(1 − (1 − k/E)^T) of them on average.
OpCost matmul_id_cost(const Graph& g, const Node& n) {
  OpCost c;
  const Tensor& w = g.node(n.src[0]).out;
  const Tensor& x = g.node(n.src[1]).out;
  const double per_expert = double(w.nb[2]), X = double(w.ne[2]);
  const double slots = double(n.out.ne[1]), T = double(n.out.ne[2]);
  c.flops = 2.0 * double(w.ne[0]) * double(w.ne[1]) * slots * T;
  const double touched = n.src[2] >= 0 ? expected_experts_touched(X, slots, T) : X;
  // Each expert's GEMM loads the rows routed to it: an input shared by all slots is read once per
  // slot (the grouped GEMM's gather), not once.
  const double x_reads = x.ne[1] == 1 ? slots : 1.0;
  c.bytes_read = per_expert * touched + double(x.nbytes()) * x_reads +
                 (n.src[2] >= 0 ? double(g.node(n.src[2]).out.nbytes()) : 0);
  c.bytes_written = double(n.out.nbytes());
  return c;
}

}  // namespace

OpCost op_cost(const Graph& g, const Node& n) {
  OpCost c;
  auto bytes_of = [&](int id) { return id < 0 ? 0.0 : double(g.node(id).out.nbytes()); };
  const double out_elems = double(n.out.nelements());
  switch (n.op) {
    case Op::Leaf:
    case Op::View:
      return c;
    case Op::MatMul: {
      const Tensor& w = g.node(n.src[0]).out;
      c.flops = 2.0 * double(w.ne[0]) * double(w.ne[1]) * double(n.out.ne[1] * n.out.ne[2]);
      break;
    }
    case Op::Attention:
      return attention_cost(g, n);
    case Op::MatMulId:
      return matmul_id_cost(g, n);
    case Op::DeltaNet: {
      // per token and value head: decay, k·S, rank-1 update and q·S over a Dk × Dv state
      const double Hv = double(n.params.i[2]), Dk = double(n.params.i[1]), Dv = double(n.params.i[3]);
      const double T = double(n.out.ne[2]);
      c.flops = 8.0 * Hv * Dk * Dv * T;
      c.bytes_read = bytes_of(n.src[0]) + bytes_of(n.src[1]) + bytes_of(n.src[2]);
      c.bytes_written = double(n.out.nbytes()) + bytes_of(n.src[2]);
      return c;
    }
    case Op::ShortConv:
      c.flops = 2.0 * out_elems * double(g.node(n.src[1]).out.ne[0]);
      break;
    case Op::TopK:
      c.flops = double(g.node(n.src[0]).out.nelements()) * std::log2(double(n.out.ne[0]) + 1.0);
      break;
    case Op::WeightedSum:
      c.flops = 2.0 * double(g.node(n.src[0]).out.nelements());
      break;
    case Op::LayerNorm:
      c.flops = 5.0 * out_elems;
      break;
    case Op::RmsNorm:
    case Op::SoftMax:
      c.flops = 3.0 * out_elems;
      break;
    case Op::Rope:
    case Op::Gelu:
    case Op::Silu:
    case Op::SwiGlu:
    case Op::Sigmoid:
    case Op::Softplus:
      c.flops = 4.0 * out_elems;
      break;
    default:
      c.flops = out_elems;
      break;
  }
  for (int s : n.src) c.bytes_read += bytes_of(s);
  if (n.op == Op::Embed) c.bytes_read = double(row_bytes(g.node(n.src[0]).out.dtype, n.out.ne[0])) * double(n.out.ne[1]);
  c.bytes_written = n.op == Op::KvStore ? double(g.node(n.src[0]).out.nelements()) * 2.0 : double(n.out.nbytes());
  return c;
}

}  // namespace db
