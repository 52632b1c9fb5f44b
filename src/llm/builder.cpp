// The decoder-only transformer forward pass, one step per line, as in the papers: Llama/Qwen/GPT
// blocks, mixture of experts, DeepSeek's latent attention and Qwen3-Next's DeltaNet layers. The
// same code builds graphs of real (GGUF) and meta (shapes-only) models.
#include "drawbridge/builder.h"

#include <cmath>

#include "drawbridge/error.h"

namespace db {

KvCache::KvCache(const ModelConfig& c, int n_ctx, DType dtype, std::unique_ptr<Buffer> storage)
    : n_ctx_(n_ctx), dtype_(dtype), storage_(std::move(storage)) {
  DB_CHECK(n_ctx > 0 && n_ctx <= (1 << 24), "[kv_cache] context size {} must be in 1..16777216", n_ctx);
  layers_.resize(size_t(c.n_layer));
  for (int l = 0; l < c.n_layer; ++l) {
    Layer& L = layers_[size_t(l)];
    if (!c.layer_has_attention(l)) {
      const LinearAttnConfig& a = c.linear_attn;
      L.conv = make_tensor(fmt::format("conv_state.{}", l), DType::F32, {a.conv_dim(), std::max(a.conv_kernel - 1, 1), 1, 1});
      L.ssm = make_tensor(fmt::format("ssm_state.{}", l), DType::F32, {a.head_dim_k, a.head_dim_v, a.n_head_v, 1});
      continue;
    }
    if (c.mla.enabled()) {
      L.k = make_tensor(fmt::format("cache_latent.{}", l), dtype, {int64_t(c.mla.kv_lora_rank) + c.mla.qk_rope_head_dim, 1, n_ctx, 1});
    } else {
      L.k = make_tensor(fmt::format("cache_k.{}", l), dtype, {c.head_dim, c.n_head_kv, n_ctx, 1});
      L.v = make_tensor(fmt::format("cache_v.{}", l), dtype, {c.head_dim, c.n_head_kv, n_ctx, 1});
    }
    if (c.sparse_attn.enabled())
      L.index_k = make_tensor(fmt::format("cache_index_k.{}", l), dtype, {c.sparse_attn.index_head_dim, 1, n_ctx, 1});
  }
  if (!storage_) return;
  DB_CHECK(storage_->size() >= bytes(), "[kv_cache] buffer of {} bytes is smaller than the {} needed", storage_->size(),
           bytes());
  char* p = static_cast<char*>(storage_->data());
  for (Layer& L : layers_)
    for (Tensor* t : {&L.k, &L.v, &L.index_k, &L.conv, &L.ssm}) {
      if (t->name.empty()) continue;
      t->data = p;
      p += t->nbytes();
    }
}

uint64_t KvCache::bytes_needed(const ModelConfig& c, int n_ctx, DType dtype) {
  return KvCache(c, n_ctx, dtype, std::unique_ptr<Buffer>()).bytes();
}

uint64_t KvCache::bytes() const {
  uint64_t total = 0;
  for (const Layer& L : layers_)
    for (const Tensor* t : {&L.k, &L.v, &L.index_k, &L.conv, &L.ssm})
      if (!t->name.empty()) total += t->nbytes();
  return total;
}

namespace {

// Small helpers that keep the forward pass readable: each adds one node and returns its id.
struct Builder {
  Graph& g;
  ForwardGraph& fg;
  const ModelConfig& c;
  const KvCache& cache;
  int T;
  int positions;
  int freqs;
  ForwardOptions options;

  // n_past reaches the graph through these two only (see ForwardGraph::rebase): as a recorded
  // node parameter, or as anything else, which makes the graph one for this n_past alone.
  int with_past_param(int node, int index) {
    g.node(node).params.i[size_t(index)] = fg.n_past;
    fg.past_params.emplace_back(node, index);
    return node;
  }
  int64_t past_for_shape() {
    fg.shape_uses_past = true;
    return fg.n_past;
  }

  int weight(const Tensor* t) { return g.leaf(*t); }
  const Tensor& out(int id) const { return g.node(id).out; }
  Tensor f32(std::string name, int64_t ne0, int64_t ne1, int64_t ne2 = 1) {
    return make_tensor(std::move(name), DType::F32, {ne0, ne1, ne2, 1});
  }
  Tensor like(int x, std::string name) {
    Tensor t = make_tensor(std::move(name), DType::F32, out(x).ne);
    return t;
  }
  // Leaves are added before reading shapes: adding a node may move the node storage.
  int matmul(const Tensor* w, int x, const std::string& name) {
    const int wid = weight(w);
    const int64_t m = out(x).ne[1];
    return g.add(Op::MatMul, f32(name, w->ne[1], m), {wid, x, -1});
  }
  int linear(const Tensor* w, const Tensor* bias, int x, const std::string& name) {
    int y = matmul(w, x, name);
    return bias ? g.add(Op::Add, out(y), {y, weight(bias), -1}) : y;
  }
  int rms_norm(int x, const Tensor* w, const std::string& name) {
    OpParams p;
    p.f[0] = c.norm_eps;
    const int wid = w ? weight(w) : -1;
    const Tensor& xt = out(x);
    return g.add(Op::RmsNorm, f32(name, xt.ne[0], xt.ne[1], xt.ne[2]), {x, wid, -1}, p);
  }
  int layer_norm(int x, const Tensor* w, const Tensor* b, const std::string& name) {
    OpParams p;
    p.f[0] = c.norm_eps;
    const int wid = w ? weight(w) : -1, bid = b ? weight(b) : -1;
    return g.add(Op::LayerNorm, like(x, name), {x, wid, bid}, p);
  }
  // The block's normalization: RMSNorm · g, or LayerNorm · g + b.
  int norm(int x, const Tensor* w, const Tensor* b, const std::string& name) {
    return c.norm_type == NormType::Layer ? layer_norm(x, w, b, name) : rms_norm(x, w, name);
  }
  int rope(int x, int n_rot, const std::string& name) {
    OpParams p;
    p.f[0] = c.rope_freq_base;
    p.f[1] = c.rope_freq_scale;
    p.i[0] = n_rot;
    p.i[1] = c.rope_type == RopeType::Neox ? 1 : 0;
    const Tensor& xt = out(x);
    return g.add(Op::Rope, f32(name, xt.ne[0], xt.ne[1], xt.ne[2]), {x, positions, freqs}, p);
  }
  int add(int a, int b, const std::string& name) { return g.add(Op::Add, like(a, name), {a, b, -1}); }
  int unary(Op op, int x, const std::string& name) { return g.add(op, like(x, name), {x, -1, -1}); }
  int binary(Op op, int a, int b, const std::string& name) { return g.add(op, like(a, name), {a, b, -1}); }
  // Columns [from, from + n) of every row of x (a strided view, no copy).
  int columns(int x, int64_t from, int64_t n, const std::string& name) {
    const Tensor& t = out(x);
    std::array<int64_t, kMaxDims> ne = t.ne;
    ne[0] = n;
    return g.view(x, name, ne, t.nb, size_t(from) * t.nb[0]);
  }
  // Columns [from, from + n) of a [W, T] tensor as one-head rows [n, 1, T] (a view).
  int head_columns(int x, int64_t from, int64_t n, const std::string& name) {
    const Tensor& t = out(x);
    return g.view(x, name, {n, 1, t.ne[1], 1}, {t.nb[0], t.nb[1], t.nb[1], t.nb[1] * size_t(t.ne[1])},
                  size_t(from) * t.nb[0]);
  }
  int concat(int a, int b, const std::string& name) {
    const Tensor &ta = out(a), &tb = out(b);
    return g.add(Op::Concat, f32(name, ta.ne[0] + tb.ne[0], ta.ne[1], ta.ne[2]), {a, b, -1});
  }
  int store(int x, const Tensor& cache_t) {
    const int leaf = g.leaf(cache_t);
    return with_past_param(g.add(Op::KvStore, cache_t, {x, leaf, -1}), 0);
  }
  // Cache rows 0 .. n_past + T as f32 [ne0 of the view, 1, ctx], columns [from, from + n).
  int cached_rows(int stored, int64_t from, int64_t n, const std::string& name) {
    const Tensor& t = out(stored);
    const int64_t ctx = past_for_shape() + T;
    const int v = g.view(stored, name + ".view", {n, t.ne[1], ctx, 1}, t.nb, size_t(from) * t.nb[0]);
    return g.add(Op::Convert, f32(name, n, t.ne[1], ctx), {v, -1, -1});
  }
  int matmul_id(const Tensor* w, int x, int ids, int64_t slots, bool transposed, const std::string& name) {
    const int wid = weight(w);
    OpParams p;
    p.i[0] = transposed ? 1 : 0;
    const int64_t n = transposed ? w->ne[0] : w->ne[1];
    return g.add(Op::MatMulId, f32(name, n, slots, out(x).ne[2]), {wid, x, ids}, p);
  }
  int attention(int q, int k, int v_or_ids, int64_t dv, float scale, int window, const std::string& name) {
    OpParams at;
    at.i[1] = window;
    at.f[0] = scale;
    const Tensor& qt = out(q);
    return with_past_param(g.add(Op::Attention, f32(name, dv, qt.ne[1], qt.ne[2]), {q, k, v_or_ids}, at), 0);
  }

  int self_attention(int il, const LayerWeights& L, int h, const std::string& p);
  int mla_attention(int il, const LayerWeights& L, int h, const std::string& p);
  int sparse_indices(int il, const LayerWeights& L, int h, int q_a, const std::string& p);
  int delta_net(int il, const LayerWeights& L, int h, const std::string& p);
  int ffn(const LayerWeights& L, int h, const std::string& p);
  int moe(const LayerWeights& L, int h, const std::string& p);
  int swiglu_mlp(const Tensor* gate, const Tensor* up, const Tensor* down, int h, const std::string& p);
};

// Standard multi-head attention with grouped KV heads (Llama, Qwen, GPT, Mixtral, Qwen3-Next's
// gated full-attention layers).
int Builder::self_attention(int il, const LayerWeights& L, int h, const std::string& p) {
  const int64_t D = c.head_dim, H = c.n_head, Hkv = c.n_head_kv;
  // q, k, v projections (with biases where the architecture has them), split into heads
  int q = linear(L.wq, L.bq, h, p + "q");
  int gate = -1;
  if (c.attn_output_gate) {  // Qwen3-Next: each head's query is followed by its output gate
    const int qg = g.reshape(q, p + "qg.heads", {2 * D, H, T, 1});
    q = columns(qg, 0, D, p + "q.heads");
    gate = columns(qg, D, D, p + "gate.heads");
  } else {
    q = g.reshape(q, p + "q.heads", {D, H, T, 1});
  }
  int k = g.reshape(linear(L.wk, L.bk, h, p + "k"), p + "k.heads", {D, Hkv, T, 1});
  int v = g.reshape(linear(L.wv, L.bv, h, p + "v"), p + "v.heads", {D, Hkv, T, 1});
  if (c.qk_norm) {  // Qwen3: RMSNorm of every q and k head
    q = rms_norm(q, L.q_norm, p + "q.norm");
    k = rms_norm(k, L.k_norm, p + "k.norm");
  }
  // rotary position embedding of q and k
  if (c.pos_embd == PosEmbd::Rope) {
    q = rope(q, c.n_rot, p + "q.rope");
    k = rope(k, c.n_rot, p + "k.rope");
  }
  // append k, v to the cache
  const int kc = store(k, cache.k(il));
  const int vc = store(v, cache.v(il));
  // causal softmax(q·kᵀ / √d) · v over everything cached so far (or the sliding window)
  int a = attention(q, kc, vc, D, 1.0f / std::sqrt(float(D)), c.layer_window(il), p + "attn");
  if (gate >= 0) a = binary(Op::Mul, a, unary(Op::Sigmoid, gate, p + "gate.sigmoid"), p + "attn.gated");
  a = g.reshape(a, p + "attn.merged", {D * H, T, 1, 1});
  return linear(L.wo, L.bo, a, p + "attn_out");
}

// Multi-head latent attention (DeepSeek). Keys and values are cached as one latent row per token:
// [norm(c_kv) (kv_lora) | rope(k_pe) (qk_rope)]. Decode-like batches attend in the latent space
// (q absorbs W_uk, the output W_uv: one 576-wide MQA head); prefill-like batches expand the cached
// latents to per-head keys and values. Whichever does fewer FLOPs is built, as serving engines do.
int Builder::mla_attention(int il, const LayerWeights& L, int h, const std::string& p) {
  const MlaConfig& m = c.mla;
  const int64_t H = c.n_head, R = m.qk_rope_head_dim, NP = m.qk_nope_head_dim, LR = m.kv_lora_rank;
  const int64_t DQ = NP + R;
  // queries: low-rank (q_a, norm, q_b) or direct; per head [rope (R) | nope (NP)]
  int q_a = -1, q;
  if (L.wq_a) {
    q_a = rms_norm(matmul(L.wq_a, h, p + "q_a"), L.q_a_norm, p + "q_a.norm");
    q = matmul(L.wq_b, q_a, p + "q");
  } else {
    q = matmul(L.wq, h, p + "q");
  }
  q = rope(g.reshape(q, p + "q.heads", {DQ, H, T, 1}), int(R), p + "q.rope");
  const int q_pe = columns(q, 0, R, p + "q_pe"), q_nope = columns(q, R, NP, p + "q_nope");
  // the latent: compressed kv (normalized) and the shared rotary key, appended to the cache
  const int kv_a = matmul(L.wkv_a, h, p + "kv_a");
  const int c_kv = rms_norm(head_columns(kv_a, 0, LR, p + "c_kv"), L.kv_a_norm, p + "c_kv.norm");
  const int k_pe = rope(head_columns(kv_a, LR, R, p + "k_pe"), int(R), p + "k_pe.rope");
  const int latent = store(concat(c_kv, k_pe, p + "latent"), cache.k(il));
  const float scale = 1.0f / std::sqrt(float(DQ));
  bool absorb = options.mla == ForwardOptions::Mla::Absorbed;
  if (options.mla == ForwardOptions::Mla::Auto) {  // the form depends on n_past
    const double past = double(past_for_shape());
    const double ctx = past + T, keys = past + T / 2.0;
    const double absorbed = 2.0 * H * T * keys * double(LR + R + LR) + 2.0 * H * T * double(LR) * double(NP + m.v_head_dim);
    const double expanded = 2.0 * H * T * keys * double(DQ + m.v_head_dim) + 2.0 * H * ctx * double(LR) * double(NP + m.v_head_dim);
    absorb = absorbed <= expanded;
  }
  int a;
  if (c.sparse_attn.enabled() || absorb) {
    // q_nope · W_uk per head → the latent space; attend over latent rows; W_uv per head after
    const int q_lat = matmul_id(L.wk_b, q_nope, -1, H, false, p + "q_lat");
    const int qf = concat(q_lat, q_pe, p + "q_full");  // [kv_lora | rope], as the cached rows
    const int ids = c.sparse_attn.enabled() ? sparse_indices(il, L, h, q_a, p) : -1;
    const int a_lat = attention(qf, latent, ids, LR, scale, c.layer_window(il), p + "attn_lat");
    a = matmul_id(L.wv_b, a_lat, -1, H, false, p + "attn");
  } else {
    // expand every cached latent to per-head keys [nope | rope] and values
    const int lat_all = cached_rows(latent, 0, LR, p + "c_kv.all");
    const int kpe_all = cached_rows(latent, LR, R, p + "k_pe.all");
    const int k_nope = matmul_id(L.wk_b, lat_all, -1, H, true, p + "k_nope");
    const int v_all = matmul_id(L.wv_b, lat_all, -1, H, false, p + "v");
    const int k_all = concat(k_nope, kpe_all, p + "k");
    const int qf = concat(q_nope, q_pe, p + "q_full");
    OpParams at;
    at.i[1] = c.layer_window(il);
    at.f[0] = scale;
    a = with_past_param(g.add(Op::Attention, f32(p + "attn", m.v_head_dim, H, T), {qf, k_all, v_all}, at), 0);
  }
  a = g.reshape(a, p + "attn.merged", {int64_t(m.v_head_dim) * H, T, 1, 1});
  return matmul(L.wo, a, p + "attn_out");
}

// DeepSeek sparse attention: the lightning indexer scores every cached key for each query
// (Σ_heads w · relu(q_i · k)) and the top_k keys are attended to.
int Builder::sparse_indices(int il, const LayerWeights& L, int h, int q_a, const std::string& p) {
  const SparseAttnConfig& x = c.sparse_attn;
  const int64_t NH = x.index_n_heads, HD = x.index_head_dim, ctx = past_for_shape() + T;
  const int iq = matmul(L.idx_wq_b, q_a, p + "idx_q");
  int ik = layer_norm(matmul(L.idx_wk, h, p + "idx_k"), L.idx_k_norm, L.idx_k_norm_b, p + "idx_k.norm");
  ik = store(g.reshape(ik, p + "idx_k.heads", {HD, 1, T, 1}), cache.index_k(il));
  const int iw = matmul(L.idx_proj, h, p + "idx_w");
  const Tensor& kt = out(ik);
  const int keys = g.view(ik, p + "idx_keys", {HD, ctx, 1, 1}, {kt.nb[0], kt.nb[2], kt.nb[2] * size_t(ctx), kt.nb[2] * size_t(ctx)});
  const int q2 = g.reshape(iq, p + "idx_q.rows", {HD, NH * T, 1, 1});
  int sc = unary(Op::Relu, g.add(Op::MatMul, f32(p + "idx_qk", ctx, NH * T), {keys, q2, -1}), p + "idx_relu");
  sc = g.reshape(sc, p + "idx_qk.heads", {ctx, NH, T, 1});
  const int score = g.add(Op::WeightedSum, f32(p + "idx_score", ctx, T), {sc, iw, -1});
  if (ctx <= x.top_k) return -1;  // every key is selected: dense attention
  // causal: query t ranks keys 0 .. n_past + t
  return with_past_param(g.add(Op::TopK, make_tensor(p + "idx_topk", DType::I32, {x.top_k, T, 1, 1}), {score, -1, -1}), 0);
}

// Gated DeltaNet (Qwen3-Next linear attention): a short causal convolution over q|k|v, then the
// gated delta rule over a fixed [Dk, Dv] state per value head, a gated RMSNorm and the output
// projection. No KV cache: the state is the memory.
int Builder::delta_net(int il, const LayerWeights& L, int h, const std::string& p) {
  const LinearAttnConfig& a = c.linear_attn;
  const int64_t Hv = a.n_head_v, Dv = a.head_dim_v, C = a.conv_dim();
  const int qkvz = matmul(L.ssm_in, h, p + "qkvz");
  const int ba = matmul(L.ssm_ba, h, p + "ba");
  // q | k | v through the causal depthwise convolution (state: the last conv_kernel − 1 inputs)
  const int conv_state = g.leaf(cache.conv_state(il));
  int qkv = g.add(Op::ShortConv, f32(p + "conv", C, T), {columns(qkvz, 0, C, p + "qkv"), weight(L.ssm_conv), conv_state});
  qkv = unary(Op::Silu, qkv, p + "conv.silu");
  // beta = sigmoid(b); log decay g = −exp(A_log) · softplus(a + dt_bias)
  const int beta = unary(Op::Sigmoid, columns(ba, 0, Hv, p + "b"), p + "beta");
  int gdec = unary(Op::Softplus, add(columns(ba, Hv, Hv, p + "a"), weight(L.ssm_dt), p + "a.dt"), p + "a.softplus");
  gdec = binary(Op::Mul, gdec, weight(L.ssm_a), p + "g");
  const int gates = concat(g.reshape(gdec, p + "g.rows", {1, Hv, T, 1}), g.reshape(beta, p + "beta.rows", {1, Hv, T, 1}), p + "gates");
  OpParams dp;
  dp.i = {a.n_head_k, a.head_dim_k, a.n_head_v, a.head_dim_v};
  int o = g.add(Op::DeltaNet, f32(p + "delta", Dv, Hv, T), {qkv, gates, g.leaf(cache.ssm_state(il))}, dp);
  // gated RMSNorm: norm(o) · w · silu(z)
  o = rms_norm(o, L.ssm_norm, p + "delta.norm");
  const Tensor& zt = out(qkvz);
  const int z = g.view(qkvz, p + "z", {Dv, Hv, T, 1}, {zt.nb[0], zt.nb[0] * size_t(Dv), zt.nb[1], zt.nb[1] * size_t(T)},
                       size_t(C) * zt.nb[0]);
  o = g.add(Op::SwiGlu, f32(p + "delta.gated", Dv, Hv, T), {z, o, -1});
  return matmul(L.ssm_out, g.reshape(o, p + "delta.merged", {Dv * Hv, T, 1, 1}), p + "delta_out");
}

int Builder::swiglu_mlp(const Tensor* gate, const Tensor* up, const Tensor* down, int h, const std::string& p) {
  const int rows = int(g.node(h).out.ne[1]);  // T, or 1 in the last layer (see build_forward)
  const int f = g.add(Op::SwiGlu, f32(p + "act", gate->ne[1], rows), {matmul(gate, h, p + "gate"), matmul(up, h, p + "up"), -1});
  return matmul(down, f, p + "out");
}

// Dense feed-forward: SwiGLU, or GPT's GELU MLP with biases.
int Builder::ffn(const LayerWeights& L, int h, const std::string& p) {
  if (c.ffn_type == FfnType::SwiGlu) return swiglu_mlp(L.ffn_gate, L.ffn_up, L.ffn_down, h, p + "ffn_");
  const int u = unary(Op::Gelu, linear(L.ffn_up, L.ffn_up_b, h, p + "ffn_up"), p + "ffn_act");
  return linear(L.ffn_down, L.ffn_down_b, u, p + "ffn_out");
}

// Mixture of experts: route each token to its top-k experts, run only those (expert-indexed
// matmuls), combine with the router weights, add the shared experts.
int Builder::moe(const LayerWeights& L, int h, const std::string& p) {
  const MoeConfig& m = c.moe;
  const int k = m.n_expert_used;
  const int probs = unary(Op::SoftMax, matmul(L.ffn_gate_inp, h, p + "router"), p + "router.probs");
  OpParams tk;
  tk.i[0] = -1;  // not causal: all experts are candidates
  const int ids = g.add(Op::TopK, make_tensor(p + "experts", DType::I32, {k, T, 1, 1}), {probs, -1, -1}, tk);
  const int w = g.add(Op::Gather, f32(p + "expert_w", k, T), {probs, ids, -1});
  const int x = g.reshape(h, p + "moe_in", {c.n_embd, 1, T, 1});
  const int gate = matmul_id(L.ffn_gate_exps, x, ids, k, false, p + "exp_gate");
  const int up = matmul_id(L.ffn_up_exps, x, ids, k, false, p + "exp_up");
  const int act = g.add(Op::SwiGlu, f32(p + "exp_act", m.n_ff_expert, k, T), {gate, up, -1});
  const int down = matmul_id(L.ffn_down_exps, act, ids, k, false, p + "exp_down");
  int y = g.add(Op::WeightedSum, f32(p + "moe_out", c.n_embd, T), {down, w, -1});
  if (L.ffn_gate_shexp) y = add(y, swiglu_mlp(L.ffn_gate_shexp, L.ffn_up_shexp, L.ffn_down_shexp, h, p + "shexp_"), p + "moe_shared");
  return y;
}

// The last position of activations x [E, T]: a view, no copy.
int last_row(Graph& g, int x, const std::string& name) {
  const Tensor& xt = g.node(x).out;
  return g.view(x, name, {xt.ne[0], 1, 1, 1}, xt.nb, xt.nb[1] * size_t(xt.ne[1] - 1));
}

}  // namespace

ForwardGraph build_forward(const Model& model, const KvCache& cache, int n_tokens, int n_past,
                           bool last_logits_only, const ForwardOptions& options) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  DB_CHECK(n_tokens > 0, "[forward] a batch needs at least one token");
  DB_CHECK(n_past >= 0 && int64_t(n_past) + n_tokens <= cache.n_ctx(),
           "[forward] {} cached + {} new tokens exceed the context size {}", n_past, n_tokens, cache.n_ctx());
  if (c.pos_embd == PosEmbd::Learned)
    DB_CHECK(int64_t(n_past) + n_tokens <= c.n_ctx_train,
             "[forward] {} positions exceed the {} learned position embeddings", int64_t(n_past) + n_tokens, c.n_ctx_train);
  ForwardGraph fg;
  Graph& g = fg.graph;
  g.nodes().reserve(size_t(c.n_layer) * 64 + 16);
  const int T = n_tokens;
  fg.n_tokens = T;
  fg.n_past = n_past;
  fg.max_past = int64_t(cache.n_ctx()) - T;
  if (c.pos_embd == PosEmbd::Learned) fg.max_past = std::min<int64_t>(fg.max_past, int64_t(c.n_ctx_train) - T);

  fg.tokens = g.leaf(make_tensor("tokens", DType::I32, {T, 1, 1, 1}));
  fg.positions = g.leaf(make_tensor("positions", DType::I32, {T, 1, 1, 1}));
  Builder b{g, fg, c, cache, T, fg.positions, -1, options};
  b.freqs = w.rope_freqs ? b.weight(w.rope_freqs) : -1;

  // x = token embeddings (+ learned position embeddings)
  int x = g.add(Op::Embed, b.f32("embd", c.n_embd, T), {b.weight(w.token_embd), fg.tokens, -1});
  if (w.position_embd)
    x = b.add(x, g.add(Op::Embed, b.f32("pos_embd", c.n_embd, T), {b.weight(w.position_embd), fg.positions, -1}), "embd+pos");
  bool trimmed = false;  // x already holds the last position only
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerWeights& L = w.layers[size_t(l)];
    const std::string p = fmt::format("l{}.", l);
    // h = Norm(x)
    int h = b.norm(x, L.attn_norm, L.attn_norm_b, p + "attn_norm");
    // token mixing: attention (MHA/GQA, MLA) or a DeltaNet layer
    int mix;
    if (!c.layer_has_attention(l)) mix = b.delta_net(l, L, h, p);
    else if (c.mla.enabled()) mix = b.mla_attention(l, L, h, p);
    else mix = b.self_attention(l, L, h, p);
    if (c.parallel_block) {
      // GPT-J: x = x + attn(h) + mlp(h), both from the same normalized input
      x = b.add(b.add(x, mix, p + "attn_residual"), b.ffn(L, h, p), p + "ffn_residual");
      continue;
    }
    // x = x + mixing; h = Norm(x); x = x + FFN(h)
    x = b.add(x, mix, p + "attn_residual");
    // Only the last position's logits are needed to generate: a dense last layer's feed-forward
    // runs on that row alone (as llama.cpp does, which matters for its numerics: a one-row matmul
    // sums in a different order than a batched one).
    if (l == c.n_layer - 1 && last_logits_only && T > 1 && !c.layer_is_moe(l)) {
      x = last_row(g, x, p + "last");
      trimmed = true;
    }
    h = b.norm(x, L.ffn_norm, L.ffn_norm_b, p + "ffn_norm");
    x = b.add(x, c.layer_is_moe(l) ? b.moe(L, h, p) : b.ffn(L, h, p), p + "ffn_residual");
  }
  // only the last position's logits are needed to generate
  if (last_logits_only && T > 1 && !trimmed) x = last_row(g, x, "last");
  // logits = Wout · Norm(x) (+ bias)
  x = b.norm(x, w.output_norm, w.output_norm_b, "output_norm");
  fg.logits = b.linear(w.output, w.output_b, x, "logits");
  g.set_output(fg.logits);
  return fg;
}

void ForwardGraph::rebase(int past) {
  DB_CHECK(rebasable(), "[forward] this graph's shapes depend on n_past ({}): build it again for {}", n_past, past);
  DB_CHECK(past >= 0 && past <= max_past, "[forward] cannot follow {} cached tokens: at most {} fit before these {} new ones",
           past, max_past, n_tokens);
  for (const auto& [node, index] : past_params) graph.node(node).params.i[size_t(index)] = past;
  n_past = past;
}

}  // namespace db
