// Op-level differential test: each op computed by ggml (llama.cpp's CPU backend; written against
// de3ff815) and by Drawbridge's CPU backend on identical inputs; prints bit mismatches and the
// largest difference per op, exits 1 when any op differs. Built and run by bench/ggml_opdiff.sh.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"

// ggml-cpu's repack buffer (q4_0, q4_K and iq4_nl weights in 8-row interleaved blocks on AVX2); exported by
// libggml-cpu, declared in its internal repack.h.
ggml_backend_buffer_type_t ggml_backend_cpu_repack_buffer_type(void);

#include "backends/cpu/cpu_backend.h"
#include "drawbridge/graph.h"

using namespace db;

static int g_threads = 2;
static std::mt19937 rng(42);

static std::vector<float> randn(size_t n, float sd = 1.0f) {
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

static int report(const char* what, const float* a, const float* b, size_t n) {
  size_t bad = 0;
  double maxd = 0;
  size_t first = n;
  for (size_t i = 0; i < n; ++i) {
    if (std::memcmp(&a[i], &b[i], 4) != 0) {
      ++bad;
      if (first == n) first = i;
      maxd = std::max(maxd, std::fabs(double(a[i]) - double(b[i])));
    }
  }
  printf("%-40s %s  mismatches %zu/%zu  maxdiff %.3g", what, bad ? "DIFF" : "same", bad, n, maxd);
  if (bad) printf("  first[%zu] ggml %.9g ours %.9g", first, a[first], b[first]);
  printf("\n");
  return bad ? 1 : 0;
}

// ---- ggml side ---------------------------------------------------------------------------------
struct GG {
  ggml_context* ctx = nullptr;
  ggml_context* ctx_w = nullptr;  // weights (maybe repack buffer)
  ggml_backend_t be = nullptr;
  ggml_backend_buffer_t buf = nullptr, buf_w = nullptr;
  GG() {
    ggml_init_params p{64 * 1024 * 1024, nullptr, true};
    ctx = ggml_init(p);
    ctx_w = ggml_init(p);
    be = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(be, g_threads);
  }
  ~GG() {
    if (buf) ggml_backend_buffer_free(buf);
    if (buf_w) ggml_backend_buffer_free(buf_w);
    ggml_free(ctx);
    ggml_free(ctx_w);
    ggml_backend_free(be);
  }
  void alloc(bool repack) {
    if (ggml_get_first_tensor(ctx_w))
      buf_w = ggml_backend_alloc_ctx_tensors_from_buft(ctx_w, repack ? ggml_backend_cpu_repack_buffer_type()
                                                                     : ggml_backend_cpu_buffer_type());
    buf = ggml_backend_alloc_ctx_tensors(ctx, be);
  }
  void compute(ggml_tensor* out) {
    ggml_cgraph* gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, out);
    ggml_backend_graph_compute(be, gf);
  }
  std::vector<float> get(ggml_tensor* t) {
    std::vector<float> v(ggml_nelements(t));
    ggml_backend_tensor_get(t, v.data(), 0, ggml_nbytes(t));
    return v;
  }
};

// ---- ours --------------------------------------------------------------------------------------
struct Ours {
  Graph g;
  std::vector<std::vector<char>> store;
  std::unique_ptr<cpu::CpuBackend> be;
  int leaf(DType dt, std::array<int64_t, 4> ne, const void* bytes) {
    Tensor t = make_tensor("x" + std::to_string(store.size()), dt, ne);
    store.emplace_back(t.nbytes());
    std::memcpy(store.back().data(), bytes, t.nbytes());
    t.data = store.back().data();
    return g.leaf(t);
  }
  std::vector<float> run(int id) {
    g.set_output(id);
    be = std::make_unique<cpu::CpuBackend>(g_threads);
    be->compute(g);
    const Tensor& t = g.node(id).out;
    return std::vector<float>(t.as<float>(), t.as<float>() + t.nelements());
  }
};

static std::vector<char> to_bytes(DType dt, const std::vector<float>& v) {
  std::vector<char> b(row_bytes(dt, int64_t(v.size())));
  dtype_info(dt).from_float(v.data(), b.data(), int64_t(v.size()));
  return b;
}

static ggml_type gtype(DType d) {
  switch (d) {
    case DType::F32: return GGML_TYPE_F32;
    case DType::F16: return GGML_TYPE_F16;
    case DType::Q8_0: return GGML_TYPE_Q8_0;
    case DType::Q4_0: return GGML_TYPE_Q4_0;
    case DType::Q4_1: return GGML_TYPE_Q4_1;
    case DType::Q5_0: return GGML_TYPE_Q5_0;
    case DType::Q5_1: return GGML_TYPE_Q5_1;
    case DType::IQ4_NL: return GGML_TYPE_IQ4_NL;
    case DType::Q2_K: return GGML_TYPE_Q2_K;
    case DType::Q3_K: return GGML_TYPE_Q3_K;
    case DType::Q4_K: return GGML_TYPE_Q4_K;
    case DType::Q5_K: return GGML_TYPE_Q5_K;
    case DType::Q6_K: return GGML_TYPE_Q6_K;
    default: abort();
  }
}

static int test_matmul(DType wt, int64_t K, int64_t N, int64_t M, bool repack, float xsd = 1.0f) {
  auto wv = randn(size_t(K * N), 0.05f);
  auto xv = randn(size_t(K * M), xsd);
  auto wb = to_bytes(wt, wv);
  GG gg;
  ggml_tensor* w = ggml_new_tensor_2d(gg.ctx_w, gtype(wt), K, N);
  ggml_tensor* x = ggml_new_tensor_2d(gg.ctx, GGML_TYPE_F32, K, M);
  ggml_tensor* y = ggml_mul_mat(gg.ctx, w, x);
  gg.alloc(repack);
  ggml_backend_tensor_set(w, wb.data(), 0, wb.size());
  ggml_backend_tensor_set(x, xv.data(), 0, xv.size() * 4);
  gg.compute(y);
  auto a = gg.get(y);
  Ours o;
  int wi = o.leaf(wt, {K, N, 1, 1}, wb.data());
  int xi = o.leaf(DType::F32, {K, M, 1, 1}, xv.data());
  int yi = o.g.add(Op::MatMul, make_tensor("y", DType::F32, {N, M, 1, 1}), {wi, xi, -1});
  auto b = o.run(yi);
  char name[128];
  snprintf(name, sizeof name, "matmul %s K%ld N%ld M%ld%s", std::string(dtype_info(wt).name).c_str(), K, N, M,
           repack ? " repack" : "");
  return report(name, a.data(), b.data(), a.size());
}

static int test_rms_norm(int64_t E, int64_t T) {
  auto xv = randn(size_t(E * T), 3.0f);
  auto wv = randn(size_t(E), 1.0f);
  const float eps = 1e-5f;
  GG gg;
  ggml_tensor* x = ggml_new_tensor_2d(gg.ctx, GGML_TYPE_F32, E, T);
  ggml_tensor* w = ggml_new_tensor_1d(gg.ctx, GGML_TYPE_F32, E);
  ggml_tensor* y = ggml_mul(gg.ctx, ggml_rms_norm(gg.ctx, x, eps), w);
  gg.alloc(false);
  ggml_backend_tensor_set(x, xv.data(), 0, xv.size() * 4);
  ggml_backend_tensor_set(w, wv.data(), 0, wv.size() * 4);
  gg.compute(y);
  auto a = gg.get(y);
  Ours o;
  int xi = o.leaf(DType::F32, {E, T, 1, 1}, xv.data());
  int wi = o.leaf(DType::F32, {E, 1, 1, 1}, wv.data());
  OpParams p;
  p.f[0] = eps;
  int yi = o.g.add(Op::RmsNorm, make_tensor("y", DType::F32, {E, T, 1, 1}), {xi, wi, -1}, p);
  auto b = o.run(yi);
  return report(("rms_norm*w E" + std::to_string(E)).c_str(), a.data(), b.data(), a.size());
}

static int test_rope(int64_t D, int64_t H, int64_t T, bool neox, int pos0) {
  auto xv = randn(size_t(D * H * T), 2.0f);
  std::vector<int32_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = pos0 + int(t);
  const float base = 10000.0f;
  GG gg;
  ggml_tensor* x = ggml_new_tensor_3d(gg.ctx, GGML_TYPE_F32, D, H, T);
  ggml_tensor* pt = ggml_new_tensor_1d(gg.ctx, GGML_TYPE_I32, T);
  // llama.cpp's allocator runs rope in place (its input is a reshaped matmul result used once)
  ggml_tensor* y = ggml_rope_ext_inplace(gg.ctx, x, pt, nullptr, int(D), neox ? GGML_ROPE_TYPE_NEOX : 0, 2048, base, 1.0f,
                                 0.0f, 1.0f, 32.0f, 1.0f);
  gg.alloc(false);
  ggml_backend_tensor_set(x, xv.data(), 0, xv.size() * 4);
  ggml_backend_tensor_set(pt, pos.data(), 0, pos.size() * 4);
  gg.compute(y);
  auto a = gg.get(y);
  Ours o;
  int xi = o.leaf(DType::F32, {D, H, T, 1}, xv.data());
  int pi = o.leaf(DType::I32, {T, 1, 1, 1}, pos.data());
  OpParams p;
  p.f[0] = base;
  p.f[1] = 1.0f;
  p.i[0] = D;
  p.i[1] = neox;
  int yi = o.g.add(Op::Rope, make_tensor("y", DType::F32, {D, H, T, 1}), {xi, pi, -1}, p);
  auto b = o.run(yi);
  char name[128];
  snprintf(name, sizeof name, "rope %s D%ld pos%d..", neox ? "neox" : "normal", D, pos0);
  return report(name, a.data(), b.data(), a.size());
}

static int test_swiglu(int64_t F, int64_t T) {
  auto gv = randn(size_t(F * T), 3.0f);
  auto uv = randn(size_t(F * T), 1.0f);
  GG gg;
  ggml_tensor* ga = ggml_new_tensor_2d(gg.ctx, GGML_TYPE_F32, F, T);
  ggml_tensor* up = ggml_new_tensor_2d(gg.ctx, GGML_TYPE_F32, F, T);
  ggml_tensor* y = ggml_swiglu_split(gg.ctx, ga, up);
  gg.alloc(false);
  ggml_backend_tensor_set(ga, gv.data(), 0, gv.size() * 4);
  ggml_backend_tensor_set(up, uv.data(), 0, uv.size() * 4);
  gg.compute(y);
  auto a = gg.get(y);
  Ours o;
  int gi = o.leaf(DType::F32, {F, T, 1, 1}, gv.data());
  int ui = o.leaf(DType::F32, {F, T, 1, 1}, uv.data());
  int yi = o.g.add(Op::SwiGlu, make_tensor("y", DType::F32, {F, T, 1, 1}), {gi, ui, -1});
  auto b = o.run(yi);
  return report(("swiglu F" + std::to_string(F)).c_str(), a.data(), b.data(), a.size());
}

static int test_add(int64_t E, int64_t T) {
  auto av = randn(size_t(E * T)), bv = randn(size_t(E * T));
  GG gg;
  ggml_tensor* a_ = ggml_new_tensor_2d(gg.ctx, GGML_TYPE_F32, E, T);
  ggml_tensor* b_ = ggml_new_tensor_2d(gg.ctx, GGML_TYPE_F32, E, T);
  ggml_tensor* y = ggml_add(gg.ctx, a_, b_);
  gg.alloc(false);
  ggml_backend_tensor_set(a_, av.data(), 0, av.size() * 4);
  ggml_backend_tensor_set(b_, bv.data(), 0, bv.size() * 4);
  gg.compute(y);
  auto a = gg.get(y);
  Ours o;
  int ai = o.leaf(DType::F32, {E, T, 1, 1}, av.data());
  int bi = o.leaf(DType::F32, {E, T, 1, 1}, bv.data());
  int yi = o.g.add(Op::Add, make_tensor("y", DType::F32, {E, T, 1, 1}), {ai, bi, -1});
  auto b = o.run(yi);
  return report("add", a.data(), b.data(), a.size());
}

static int test_embed(DType dt, int64_t E, int64_t V) {
  auto tv = randn(size_t(E * V));
  auto tb = to_bytes(dt, tv);
  std::vector<int32_t> ids{1, 5, 7, 3, int32_t(V - 1)};
  GG gg;
  ggml_tensor* tab = ggml_new_tensor_2d(gg.ctx, gtype(dt), E, V);
  ggml_tensor* it = ggml_new_tensor_1d(gg.ctx, GGML_TYPE_I32, int64_t(ids.size()));
  ggml_tensor* y = ggml_get_rows(gg.ctx, tab, it);
  gg.alloc(false);
  ggml_backend_tensor_set(tab, tb.data(), 0, tb.size());
  ggml_backend_tensor_set(it, ids.data(), 0, ids.size() * 4);
  gg.compute(y);
  auto a = gg.get(y);
  Ours o;
  int ti = o.leaf(dt, {E, V, 1, 1}, tb.data());
  int ii = o.leaf(DType::I32, {int64_t(ids.size()), 1, 1, 1}, ids.data());
  int yi = o.g.add(Op::Embed, make_tensor("y", DType::F32, {E, int64_t(ids.size()), 1, 1}), {ti, ii, -1});
  auto b = o.run(yi);
  return report(("embed " + std::string(dtype_info(dt).name)).c_str(), a.data(), b.data(), a.size());
}

// Flash attention as llama.cpp runs it: f16 K/V cache of C cells (n_kv), f16 causal mask, q f32
// [D, T, H] (permuted view), past cached rows plus T new ones (stored f32 -> f16 by ggml_cpy).
static int test_attention(int64_t D, int64_t H, int64_t Hkv, int64_t past, int64_t T, int64_t C = 256) {
  const float scale = 1.0f / std::sqrt(float(D));
  auto qv = randn(size_t(D * H * T), 2.0f);
  auto kv = randn(size_t(D * Hkv * (past + T)), 2.0f);
  auto vv = randn(size_t(D * Hkv * (past + T)), 1.0f);
  // cache contents as f16 (zeros beyond past+T)
  std::vector<float> kc(size_t(D * Hkv * C), 0.0f), vc(size_t(D * Hkv * C), 0.0f);
  std::copy(kv.begin(), kv.end(), kc.begin());
  std::copy(vv.begin(), vv.end(), vc.begin());
  auto kcb = to_bytes(DType::F16, kc), vcb = to_bytes(DType::F16, vc);
  // mask [C, T_pad]: 0 where j <= past + t, -inf otherwise
  const int64_t Tp = T;
  std::vector<uint16_t> mask(size_t(C * Tp), fp32_to_fp16(-INFINITY));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j <= past + t; ++j) mask[size_t(t * C + j)] = fp32_to_fp16(0.0f);
  GG gg;
  ggml_tensor* q = ggml_new_tensor_3d(gg.ctx, GGML_TYPE_F32, D, H, T);
  ggml_tensor* k = ggml_new_tensor_3d(gg.ctx, GGML_TYPE_F16, D, Hkv, C);
  ggml_tensor* v = ggml_new_tensor_3d(gg.ctx, GGML_TYPE_F16, D, Hkv, C);
  ggml_tensor* m = ggml_new_tensor_2d(gg.ctx, GGML_TYPE_F16, C, Tp);
  ggml_tensor* y = ggml_flash_attn_ext(gg.ctx, ggml_permute(gg.ctx, q, 0, 2, 1, 3), ggml_permute(gg.ctx, k, 0, 2, 1, 3),
                                       ggml_permute(gg.ctx, v, 0, 2, 1, 3), m, scale, 0.0f, 0.0f);
  ggml_prec_set_acc(y, GGML_PREC_F32);
  gg.alloc(false);
  ggml_backend_tensor_set(q, qv.data(), 0, qv.size() * 4);
  ggml_backend_tensor_set(k, kcb.data(), 0, kcb.size());
  ggml_backend_tensor_set(v, vcb.data(), 0, vcb.size());
  ggml_backend_tensor_set(m, mask.data(), 0, mask.size() * 2);
  gg.compute(y);
  auto a = gg.get(y);  // [D, H, T]
  Ours o;
  int qi = o.leaf(DType::F32, {D, H, T, 1}, qv.data());
  int ki = o.leaf(DType::F16, {D, Hkv, C, 1}, kcb.data());
  int vi = o.leaf(DType::F16, {D, Hkv, C, 1}, vcb.data());
  OpParams p;
  p.i[0] = past;
  p.f[0] = scale;
  int yi = o.g.add(Op::Attention, make_tensor("y", DType::F32, {D, H, T, 1}), {qi, ki, vi}, p);
  auto b = o.run(yi);
  char name[128];
  snprintf(name, sizeof name, "attention D%ld H%ld/%ld past%ld T%ld", D, H, Hkv, past, T);
  return report(name, a.data(), b.data(), a.size());
}

// f32 -> f16 store (KvStore vs ggml_cpy)
static int test_kv_store(int64_t n) {
  auto xv = randn(size_t(n), 3.0f);
  GG gg;
  ggml_tensor* x = ggml_new_tensor_1d(gg.ctx, GGML_TYPE_F32, n);
  ggml_tensor* c = ggml_new_tensor_1d(gg.ctx, GGML_TYPE_F16, n);
  ggml_tensor* y = ggml_cpy(gg.ctx, x, c);
  gg.alloc(false);
  ggml_backend_tensor_set(x, xv.data(), 0, xv.size() * 4);
  gg.compute(y);
  std::vector<uint16_t> h(static_cast<size_t>(n));
  ggml_backend_tensor_get(c, h.data(), 0, h.size() * 2);
  std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    a[size_t(i)] = fp16_to_fp32(h[size_t(i)]);
    b[size_t(i)] = fp16_to_fp32(fp32_to_fp16(xv[size_t(i)]));
  }
  return report("f32->f16", a.data(), b.data(), a.size());
}

int main() {
  ggml_backend_load_all();
  int bad = 0;
  bad += test_kv_store(4096);
  bad += test_add(256, 5);
  for (DType dt : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) bad += test_embed(dt, 256, 64);
  bad += test_rms_norm(256, 5);
  bad += test_rms_norm(448, 5);
  for (int neox = 0; neox < 2; ++neox) {
    bad += test_rope(32, 8, 5, neox, 0);
    bad += test_rope(64, 8, 1, neox, 37);
    bad += test_rope(64, 7, 1, neox, 250);
    bad += test_rope(6, 3, 4, neox, 5);   // odd number of pairs
    bad += test_rope(26, 3, 4, neox, 100);
  }
  bad += test_swiglu(512, 5);
  bad += test_swiglu(1376, 1);
  bad += test_swiglu(1219, 1);
  for (int64_t D : {32, 64}) {
    bad += test_attention(D, 8, 2, 0, 5);
    bad += test_attention(D, 8, 2, 9, 1);
    bad += test_attention(D, 8, 8, 30, 1);
    bad += test_attention(D, 8, 2, 0, 64);   // ggml's tiled path (64+ queries)
    bad += test_attention(D, 4, 2, 10, 70);
    bad += test_attention(D, 7, 1, 0, 130);
    bad += test_attention(D, 8, 2, 300, 1, 512);  // ggml's split-KV decode (n_kv >= 512)
    bad += test_attention(D, 4, 4, 600, 1, 768);
    bad += test_attention(D, 4, 4, 200, 1, 512);  // 256 cells in view: no split
  }
  for (DType dt : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) {
    for (int64_t M : {1, 5}) {
      const int64_t off = dt == DType::Q4_0 ? 4 : 0;  // q4_0 with N % 8 == 0 is repacked
      bad += test_matmul(dt, 256, 64 - off, M, false);
      bad += test_matmul(dt, 1376, 512 - off, M, false);
      bad += test_matmul(dt, 448, 1216 - off, M, false);
    }
  }
  for (int64_t M : {1, 2, 5, 8}) bad += test_matmul(DType::Q4_0, 256, 64, M, true);
  bad += test_matmul(DType::F32, 100, 64, 1, false);  // leftovers of ggml_vec_dot_f32
  bad += test_matmul(DType::F32, 84, 64, 1, false);
  bad += test_matmul(DType::F32, 75, 64, 1, false);
  bad += test_matmul(DType::F16, 100, 64, 1, false);
  bad += test_matmul(DType::F32, 100, 62, 3, false);  // N % 4 != 0: no tinyBLAS
  bad += test_matmul(DType::F32, 100, 64, 3, false);  // K % 8 != 0: no tinyBLAS
  bad += test_matmul(DType::Q4_0, 1376, 512, 5, true);
  // The further block formats: one row and batches (ggml's vec_dot, tinyBLAS_Q0 for Q5_0/IQ4_NL),
  // N % 8 == 0 (repacked by ggml for Q4_K and IQ4_NL) and not, several super-blocks per row.
  for (DType dt : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q4_1, DType::Q5_0,
                   DType::Q5_1, DType::IQ4_NL})
    for (int64_t M : {1, 3, 7}) {
      const bool repack = dt == DType::Q4_K || dt == DType::IQ4_NL;
      bad += test_matmul(dt, 512, 64, M, repack);
      bad += test_matmul(dt, 1536, 60, M, false);
      bad += test_matmul(dt, 256, 1024, M, repack);
    }
  for (DType dt : {DType::Q4_0, DType::Q4_K, DType::Q6_K}) bad += test_embed(dt, 256, 64);
  g_threads = 3;
  bad += test_attention(64, 8, 2, 300, 1, 512);
  bad += test_attention(64, 8, 2, 700, 1, 768);
  bad += test_matmul(DType::F32, 256, 64, 5, false);
  printf("%d ops differ\n", bad);
  return bad ? 1 : 0;
}
