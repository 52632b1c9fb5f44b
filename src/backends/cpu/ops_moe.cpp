// Ops for mixtures of experts, latent attention and normalization beyond RMSNorm: layer norm,
// expert-indexed matmul, top-k routing, gather, weighted sum and concatenation. Plain reference
// loops: correctness first, these run in tests and on small models.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "backends/cpu/kernels.h"
#include "backends/cpu/row_iter.h"

namespace db::cpu {
namespace {

const Tensor& src(const Graph& g, const Node& n, int i) { return g.node(n.src[size_t(i)]).out; }

}  // namespace

// y = (x − mean) / sqrt(var + eps) · w + b, statistics in double.
void kernel_layer_norm(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& x = src(g, n, 0);
  const float* w = n.src[1] >= 0 ? src(g, n, 1).as<float>() : nullptr;
  const float* b = n.src[2] >= 0 ? src(g, n, 2).as<float>() : nullptr;
  const float eps = n.params.f[0];
  const int64_t k = x.ne[0];
  int64_t r0, r1;
  split_rows(x.nrows(), ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = frow(x, r);
    float* yr = frow(n.out, r);
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < k; ++i) mean += xr[i];
    mean /= double(k);
    for (int64_t i = 0; i < k; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    const float inv = float(1.0 / std::sqrt(var / double(k) + eps));
    for (int64_t i = 0; i < k; ++i) {
      float y = float(xr[i] - mean) * inv;
      if (w) y *= w[i];
      if (b) y += b[i];
      yr[i] = y;
    }
  }
}

// out[:, s, t] = W_e · x[:, s or 0, t] with e = ids[s, t] (or s); W_e dequantized row by row.
void kernel_matmul_id(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& w = src(g, n, 0);
  const Tensor& x = src(g, n, 1);
  const Tensor* ids = n.src[2] >= 0 ? &src(g, n, 2) : nullptr;
  const bool tr = n.params.i[0] != 0;
  const int64_t N = n.out.ne[0], S = n.out.ne[1], T = n.out.ne[2], K = x.ne[0];
  const auto& info = dtype_info(w.dtype);
  float* row = thread_scratch_as<float>(1, size_t(std::max(w.ne[0], w.ne[1])));
  int64_t r0, r1;
  split_rows(S * T, ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t s = r % S, t = r / S;
    const int64_t e = ids ? int64_t(reinterpret_cast<const int32_t*>(ids->row(t))[s]) : s;
    float* y = reinterpret_cast<float*>(n.out.row(s, t));
    if (e < 0 || e >= w.ne[2]) {  // an unused slot (top-k padding): no expert, no output
      std::fill(y, y + N, 0.0f);
      continue;
    }
    const float* xr = reinterpret_cast<const float*>(x.row(x.ne[1] == 1 ? 0 : s, t));
    if (!tr) {
      for (int64_t j = 0; j < N; ++j) {
        info.to_float(w.row(j, e), row, K);
        double acc = 0.0;
        for (int64_t i = 0; i < K; ++i) acc += double(row[size_t(i)]) * xr[i];
        y[j] = float(acc);
      }
    } else {  // expert stored [N, K]: row i of the expert holds column i of the product
      double* acc = thread_scratch_filled(2, size_t(N), 0.0);
      for (int64_t i = 0; i < K; ++i) {
        info.to_float(w.row(i, e), row, N);
        for (int64_t j = 0; j < N; ++j) acc[size_t(j)] += double(row[size_t(j)]) * xr[i];
      }
      for (int64_t j = 0; j < N; ++j) y[j] = float(acc[size_t(j)]);
    }
  }
}

// The k largest entries of each row (ties: the lower index first); causal rows see a prefix.
void kernel_top_k(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& a = src(g, n, 0);
  const int64_t N = a.ne[0], k = n.out.ne[0];
  int32_t* idx = thread_scratch_as<int32_t>(1, size_t(N));
  int64_t r0, r1;
  split_rows(a.ne[1], ctx.ith, ctx.nth, r0, r1);
  for (int64_t t = r0; t < r1; ++t) {
    const float* v = reinterpret_cast<const float*>(a.row(t));
    const int64_t avail = n.params.i[0] >= 0 ? std::min<int64_t>(N, n.params.i[0] + t + 1) : N;
    std::iota(idx, idx + avail, 0);
    const int64_t take = std::min(k, avail);
    std::partial_sort(idx, idx + take, idx + avail,
                      [v](int32_t x, int32_t y) { return v[x] > v[y] || (v[x] == v[y] && x < y); });
    int32_t* out = reinterpret_cast<int32_t*>(n.out.row(t));
    for (int64_t j = 0; j < k; ++j) out[j] = j < take ? idx[j] : -1;
  }
}

void kernel_gather(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor &a = src(g, n, 0), &ids = src(g, n, 1);
  int64_t r0, r1;
  split_rows(n.out.ne[1], ctx.ith, ctx.nth, r0, r1);
  for (int64_t t = r0; t < r1; ++t) {
    const float* v = reinterpret_cast<const float*>(a.row(t));
    const int32_t* id = reinterpret_cast<const int32_t*>(ids.row(t));
    float* y = reinterpret_cast<float*>(n.out.row(t));
    for (int64_t j = 0; j < n.out.ne[0]; ++j) y[j] = id[j] >= 0 && id[j] < a.ne[0] ? v[id[j]] : 0.0f;
  }
}

void kernel_weighted_sum(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor &a = src(g, n, 0), &w = src(g, n, 1);
  const int64_t N = a.ne[0], S = a.ne[1];
  int64_t r0, r1;
  split_rows(n.out.ne[1], ctx.ith, ctx.nth, r0, r1);
  for (int64_t t = r0; t < r1; ++t) {
    const float* wt = reinterpret_cast<const float*>(w.row(t));
    float* y = reinterpret_cast<float*>(n.out.row(t));
    std::fill(y, y + N, 0.0f);
    for (int64_t s = 0; s < S; ++s) {
      const float* ar = reinterpret_cast<const float*>(a.row(s, t));
      for (int64_t i = 0; i < N; ++i) y[i] += wt[s] * ar[i];
    }
  }
}

void kernel_concat(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor &a = src(g, n, 0), &b = src(g, n, 1);
  const int64_t H = n.out.ne[1];
  int64_t r0, r1;
  split_rows(n.out.nrows(), ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H, t = r / H;
    float* y = reinterpret_cast<float*>(n.out.row(h, t));
    const float* ar = reinterpret_cast<const float*>(a.row(h, t));
    const float* br = reinterpret_cast<const float*>(b.row(b.ne[1] == 1 ? 0 : h, t));
    std::copy(ar, ar + a.ne[0], y);
    std::copy(br, br + b.ne[0], y + a.ne[0]);
  }
}

// Causal depthwise convolution: y[c, t] = Σ_j w[j, c] · x[c, t − (W−1) + j], earlier inputs from the
// state; afterwards the state holds the last W−1 inputs. Threads split channels.
void kernel_short_conv(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor &x = src(g, n, 0), &w = src(g, n, 1), &st = src(g, n, 2);
  const int64_t C = x.ne[0], T = x.ne[1], W = w.ne[0], P = W - 1;
  float* hist = thread_scratch_as<float>(1, size_t(P + T));
  int64_t c0, c1;
  split_rows(C, ctx.ith, ctx.nth, c0, c1);
  for (int64_t c = c0; c < c1; ++c) {
    for (int64_t j = 0; j < P; ++j) hist[size_t(j)] = reinterpret_cast<const float*>(st.row(j))[c];
    for (int64_t t = 0; t < T; ++t) hist[size_t(P + t)] = reinterpret_cast<const float*>(x.row(t))[c];
    const float* wc = reinterpret_cast<const float*>(w.row(c));
    for (int64_t t = 0; t < T; ++t) {
      double acc = 0.0;
      for (int64_t j = 0; j < W; ++j) acc += double(wc[j]) * hist[size_t(t + j)];
      reinterpret_cast<float*>(n.out.row(t))[c] = float(acc);
    }
    for (int64_t j = 0; j < P; ++j) reinterpret_cast<float*>(st.row(j))[c] = hist[size_t(T + j)];
  }
}

// Gated delta rule, per value head h (key head h / (Hv/Hk)), per token t, as Qwen3-Next's
// recurrent form: q and k are L2-normalized and q scaled by 1/√Dk; S ← e^g · S;
// S ← S + k ⊗ (β · (v − Sᵀk)); o = Sᵀq. Threads split value heads.
void kernel_delta_net(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor &x = src(g, n, 0), &gates = src(g, n, 1), &st = src(g, n, 2);
  const int64_t Hk = n.params.i[0], Dk = n.params.i[1], Hv = n.params.i[2], Dv = n.params.i[3];
  const int64_t T = x.ne[1], group = Hv / Hk;
  float* q = thread_scratch_as<float>(1, size_t(Dk));
  float* k = thread_scratch_as<float>(2, size_t(Dk));
  float* kv = thread_scratch_as<float>(3, size_t(Dv));
  auto l2norm = [Dk](float* v, float extra) {
    double s = 0.0;
    for (int64_t i = 0; i < Dk; ++i) s += double(v[i]) * v[i];
    const float inv = float(1.0 / std::sqrt(s + 1e-6)) * extra;
    for (int64_t i = 0; i < Dk; ++i) v[i] *= inv;
  };
  int64_t h0, h1;
  split_rows(Hv, ctx.ith, ctx.nth, h0, h1);
  for (int64_t h = h0; h < h1; ++h) {
    const int64_t hk = h / group;
    float* S = reinterpret_cast<float*>(st.row(0, h));  // [Dk rows of Dv]... stored [Dk, Dv]: S[i + Dk·j]
    for (int64_t t = 0; t < T; ++t) {
      const float* xt = reinterpret_cast<const float*>(x.row(t));
      std::copy(xt + hk * Dk, xt + (hk + 1) * Dk, q);
      std::copy(xt + Hk * Dk + hk * Dk, xt + Hk * Dk + (hk + 1) * Dk, k);
      const float* v = xt + 2 * Hk * Dk + h * Dv;
      l2norm(q, 1.0f / std::sqrt(float(Dk)));
      l2norm(k, 1.0f);
      const float* gt = reinterpret_cast<const float*>(gates.row(h, t));
      const float decay = std::exp(gt[0]), beta = gt[1];
      for (int64_t i = 0; i < Dk * Dv; ++i) S[i] *= decay;
      for (int64_t j = 0; j < Dv; ++j) {  // kv = Sᵀk
        double acc = 0.0;
        for (int64_t i = 0; i < Dk; ++i) acc += double(S[i + Dk * j]) * k[size_t(i)];
        kv[size_t(j)] = float(acc);
      }
      for (int64_t j = 0; j < Dv; ++j) {
        const float delta = beta * (v[j] - kv[size_t(j)]);
        for (int64_t i = 0; i < Dk; ++i) S[i + Dk * j] += k[size_t(i)] * delta;
      }
      float* o = reinterpret_cast<float*>(n.out.row(h, t));
      for (int64_t j = 0; j < Dv; ++j) {
        double acc = 0.0;
        for (int64_t i = 0; i < Dk; ++i) acc += double(S[i + Dk * j]) * q[size_t(i)];
        o[j] = float(acc);
      }
    }
  }
}

}  // namespace db::cpu
