// Row kernels of the element-wise and attention ops whose rounding must follow ggml (see the
// numerics contract in vec_dot.h): a portable version (row_kernels.cpp, std::fma where ggml's AVX2
// build fuses) and an AVX2 one (ggml_avx2.cpp), bit-identical; row_kernels() picks for this CPU.
#pragma once
#include <cstdint>

namespace db::cpu {

constexpr int64_t kAttnTile = 64;  // keys per tile of ggml's tiled flash attention (GGML_FA_TILE_KV)

struct RowKernels {
  // y = silu(g) * u, ggml_vec_swiglu_f32: ggml_v_silu per full group of 8, libm expf for the rest.
  void (*swiglu)(int64_t n, float* y, const float* g, const float* u);
  // y = silu(x), ggml_vec_silu_f32.
  void (*silu)(int64_t n, float* y, const float* x);
  // acc = f16(fma(v, s, acc)), ggml_vec_mad_f16.
  void (*mad_f16)(int64_t n, uint16_t* acc, const uint16_t* v, float s);
  // acc = f16(acc * s), ggml_vec_scale_f16.
  void (*scale_f16)(int64_t n, uint16_t* acc, float s);
  // acc = fma(v, s, acc), ggml_vec_mad_f32.
  void (*mad_f32)(int64_t n, float* acc, const float* v, float s);
  // Tiled attention, scores of one query against a tile of keys stored transposed (kt[d * 64 + j]):
  // kq[j] = (Σ_d in order, one FMA chain) q[d]·k[j][d], for j < 64.
  void (*tile_scores)(int64_t D, const float* q, const float* kt, float* kq);
  // kq[j] = ggml_v_expf(kq[j] - max) for j < 64; returns the sum as ggml_vec_soft_max_f32 forms it
  // (8-lane horizontal sums added in double).
  double (*tile_softmax)(float* kq, float max);
  // acc[i] = fma chain over j < n of v[j * D + i] · p[j] (simd_gemm of ggml's tiled attention).
  void (*tile_values)(int64_t D, float* acc, const float* v, const float* p, int64_t n);
};

const RowKernels& row_kernels();      // the fastest this CPU runs (dispatch.cpp)
const RowKernels& row_kernels_ref();  // portable

}  // namespace db::cpu
