// The decoder-only transformer forward pass (Llama and Qwen2), one step per line, as in the paper.
#include "drawbridge/builder.h"

#include <cmath>

#include "drawbridge/error.h"

namespace db {

KvCache::KvCache(const ModelConfig& c, int n_ctx, DType dtype, std::unique_ptr<Buffer> storage)
    : n_ctx_(n_ctx), dtype_(dtype), storage_(std::move(storage)) {
  DB_CHECK(n_ctx > 0 && n_ctx <= (1 << 24), "[kv_cache] context size {} must be in 1..16777216", n_ctx);
  for (int l = 0; l < c.n_layer; ++l) {
    k_.push_back(make_tensor(fmt::format("cache_k.{}", l), dtype, {c.head_dim, c.n_head_kv, n_ctx, 1}));
    v_.push_back(make_tensor(fmt::format("cache_v.{}", l), dtype, {c.head_dim, c.n_head_kv, n_ctx, 1}));
  }
  if (!storage_) return;
  DB_CHECK(storage_->size() >= bytes(), "[kv_cache] buffer of {} bytes is smaller than the {} needed", storage_->size(),
           bytes());
  char* p = static_cast<char*>(storage_->data());
  for (int l = 0; l < c.n_layer; ++l) {
    k_[size_t(l)].data = p;
    p += k_[size_t(l)].nbytes();
    v_[size_t(l)].data = p;
    p += v_[size_t(l)].nbytes();
  }
}

uint64_t KvCache::bytes_needed(const ModelConfig& c, int n_ctx, DType dtype) {
  return 2ull * uint64_t(c.n_layer) * row_bytes(dtype, int64_t(c.head_dim) * c.n_head_kv) * uint64_t(n_ctx);
}

uint64_t KvCache::bytes() const {
  uint64_t total = 0;
  for (size_t l = 0; l < k_.size(); ++l) total += k_[l].nbytes() + v_[l].nbytes();
  return total;
}

namespace {

// Small helpers that keep the forward pass readable: each adds one node and returns its id.
struct Builder {
  Graph& g;
  const ModelConfig& c;
  int T;

  int weight(const Tensor* t) { return g.leaf(*t); }
  Tensor f32(std::string name, int64_t ne0, int64_t ne1, int64_t ne2 = 1) {
    return make_tensor(std::move(name), DType::F32, {ne0, ne1, ne2, 1});
  }
  // Leaves are added before reading shapes: adding a node may move the node storage.
  int matmul(const Tensor* w, int x, const std::string& name) {
    const int wid = weight(w);
    const int64_t m = g.node(x).out.ne[1];
    return g.add(Op::MatMul, f32(name, w->ne[1], m), {wid, x, -1});
  }
  int linear(const Tensor* w, const Tensor* bias, int x, const std::string& name) {
    int y = matmul(w, x, name);
    return bias ? g.add(Op::Add, g.node(y).out, {y, weight(bias), -1}) : y;
  }
  int rms_norm(int x, const Tensor* w, const std::string& name) {
    OpParams p;
    p.f[0] = c.norm_eps;
    const int wid = weight(w);
    const Tensor& xt = g.node(x).out;
    return g.add(Op::RmsNorm, f32(name, xt.ne[0], xt.ne[1]), {x, wid, -1}, p);
  }
  int rope(int x, int pos, int freqs, const std::string& name) {
    OpParams p;
    p.f[0] = c.rope_freq_base;
    p.f[1] = c.rope_freq_scale;
    p.i[0] = c.n_rot;
    p.i[1] = c.rope_type == RopeType::Neox ? 1 : 0;
    const Tensor& xt = g.node(x).out;
    return g.add(Op::Rope, f32(name, xt.ne[0], xt.ne[1], xt.ne[2]), {x, pos, freqs}, p);
  }
  int add(int a, int b, const std::string& name) {
    Tensor out = g.node(a).out;
    out.name = name;
    return g.add(Op::Add, out, {a, b, -1});
  }
};

}  // namespace

ForwardGraph build_forward(const Model& model, const KvCache& cache, int n_tokens, int n_past,
                           bool last_logits_only) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  DB_CHECK(n_tokens > 0, "[forward] a batch needs at least one token");
  DB_CHECK(n_past >= 0 && int64_t(n_past) + n_tokens <= cache.n_ctx(),
           "[forward] {} cached + {} new tokens exceed the context size {}", n_past, n_tokens, cache.n_ctx());
  ForwardGraph fg;
  Graph& g = fg.graph;
  Builder b{g, c, n_tokens};
  const int T = n_tokens, D = c.head_dim, H = c.n_head, Hkv = c.n_head_kv;
  const float kq_scale = 1.0f / std::sqrt(float(D));

  fg.tokens = g.leaf(make_tensor("tokens", DType::I32, {T, 1, 1, 1}));
  fg.positions = g.leaf(make_tensor("positions", DType::I32, {T, 1, 1, 1}));
  const int freqs = w.rope_freqs ? b.weight(w.rope_freqs) : -1;

  // x = token embeddings
  int x = g.add(Op::Embed, b.f32("embd", c.n_embd, T), {b.weight(w.token_embd), fg.tokens, -1});
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerWeights& L = w.layers[size_t(l)];
    const std::string p = fmt::format("l{}.", l);
    // h = RMSNorm(x) · g_attn
    int h = b.rms_norm(x, L.attn_norm, p + "attn_norm");
    // q, k, v projections (with bias for Qwen2), split into heads
    int q = g.reshape(b.linear(L.wq, L.bq, h, p + "q"), p + "q.heads", {D, H, T, 1});
    int k = g.reshape(b.linear(L.wk, L.bk, h, p + "k"), p + "k.heads", {D, Hkv, T, 1});
    int v = g.reshape(b.linear(L.wv, L.bv, h, p + "v"), p + "v.heads", {D, Hkv, T, 1});
    // rotary position embedding of q and k
    q = b.rope(q, fg.positions, freqs, p + "q.rope");
    k = b.rope(k, fg.positions, freqs, p + "k.rope");
    // append k, v to the cache
    OpParams at;
    at.i[0] = n_past;
    const int kc = g.add(Op::KvStore, cache.k(l), {k, g.leaf(cache.k(l)), -1}, at);
    const int vc = g.add(Op::KvStore, cache.v(l), {v, g.leaf(cache.v(l)), -1}, at);
    // causal softmax(q·kᵀ / √d) · v over everything cached so far
    at.f[0] = kq_scale;
    int a = g.add(Op::Attention, b.f32(p + "attn", D, H, T), {q, kc, vc}, at);
    a = g.reshape(a, p + "attn.merged", {int64_t(D) * H, T, 1, 1});
    // x = x + Wo · attention
    x = b.add(x, b.matmul(L.wo, a, p + "attn_out"), p + "attn_residual");
    // Only the last position's logits are needed to generate: the last layer's feed-forward runs
    // on that row alone (as llama.cpp does, which matters for its numerics: a one-row matmul sums
    // in a different order than a batched one).
    if (l == c.n_layer - 1 && last_logits_only && T > 1) {
      const Tensor& xt = g.node(x).out;
      x = g.view(x, p + "last", {xt.ne[0], 1, 1, 1}, xt.nb, xt.nb[1] * size_t(T - 1));
    }
    // h = RMSNorm(x) · g_ffn
    h = b.rms_norm(x, L.ffn_norm, p + "ffn_norm");
    // SwiGLU feed-forward: down(silu(gate·h) ⊙ up·h)
    const int f = g.add(Op::SwiGlu, b.f32(p + "ffn_act", c.n_ff, g.node(h).out.ne[1]),
                        {b.matmul(L.ffn_gate, h, p + "ffn_gate"), b.matmul(L.ffn_up, h, p + "ffn_up"), -1});
    // x = x + FFN
    x = b.add(x, b.matmul(L.ffn_down, f, p + "ffn_out"), p + "ffn_residual");
  }
  // logits = Wout · RMSNorm(x) · g_out
  x = b.rms_norm(x, w.output_norm, "output_norm");
  fg.logits = b.matmul(w.output, x, "logits");
  g.set_output(fg.logits);
  return fg;
}

}  // namespace db
