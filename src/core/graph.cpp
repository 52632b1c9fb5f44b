// Graph construction with validation at the edge: every op checks its operands and names itself
// in the message, so a malformed model fails while building, not inside a kernel.
#include "drawbridge/graph.h"

#include "drawbridge/error.h"

namespace db {

std::string_view op_name(Op op) {
  static constexpr std::string_view names[] = {
      "leaf", "view", "embed", "matmul", "add", "mul", "scale", "rms_norm", "rope",
      "silu", "gelu", "swiglu", "softmax", "kv_store", "attention", "convert"};
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
      const Tensor &q = need(0), &k = need(1), &v = need(2);
      f32(q);
      DB_CHECK(q.ne[0] == k.ne[0] && k.ne == v.ne && k.ne[1] > 0 && q.ne[1] % k.ne[1] == 0,
               "[attention] '{}': q {} incompatible with k {} / v {}", out.name, q.shape_str(),
               k.shape_str(), v.shape_str());
      DB_CHECK(p.i[0] >= 0 && p.i[0] + q.ne[2] <= k.ne[2], "[attention] '{}': {} past + {} new tokens exceed the cache of {}",
               out.name, p.i[0], q.ne[2], k.ne[2]);
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
    case Op::Attention: {
      const Tensor& q = g.node(n.src[0]).out;
      const double ctx = double(n.params.i[0]) + double(q.ne[2]) / 2.0;  // causal average
      c.flops = 4.0 * double(q.ne[0]) * double(q.ne[1]) * double(q.ne[2]) * ctx;
      const Tensor& k = g.node(n.src[1]).out;
      const double kv_row = double(k.nb[2]);
      c.bytes_read = 2.0 * kv_row * (double(n.params.i[0]) + double(q.ne[2])) + bytes_of(n.src[0]);
      c.bytes_written = double(n.out.nbytes());
      return c;
    }
    case Op::RmsNorm:
    case Op::SoftMax:
      c.flops = 3.0 * out_elems;
      break;
    case Op::Rope:
    case Op::Gelu:
    case Op::Silu:
    case Op::SwiGlu:
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
