// Portable row kernels: ggml's AVX2 arithmetic one lane at a time (see row_kernels.h).
#include "backends/cpu/row_kernels.h"

#include <cmath>

#include "backends/cpu/ggml_math.h"
#include "drawbridge/dtype.h"

namespace db::cpu {
namespace {

void swiglu(int64_t n, float* y, const float* g, const float* u) {
  const int64_t nv = n & ~int64_t(7);
  for (int64_t i = 0; i < nv; ++i) y[i] = ggml_v_silu(g[i]) * u[i];
  for (int64_t i = nv; i < n; ++i) y[i] = ggml_silu_f32(g[i]) * u[i];
}

void silu(int64_t n, float* y, const float* x) {
  const int64_t nv = n & ~int64_t(7);
  for (int64_t i = 0; i < nv; ++i) y[i] = ggml_v_silu(x[i]);
  for (int64_t i = nv; i < n; ++i) y[i] = ggml_silu_f32(x[i]);
}

void mad_f16(int64_t n, uint16_t* acc, const uint16_t* v, float s) {
  for (int64_t i = 0; i < n; ++i) acc[i] = fp32_to_fp16(std::fma(fp16_to_fp32(v[i]), s, fp16_to_fp32(acc[i])));
}

void scale_f16(int64_t n, uint16_t* acc, float s) {
  for (int64_t i = 0; i < n; ++i) acc[i] = fp32_to_fp16(fp16_to_fp32(acc[i]) * s);
}

void mad_f32(int64_t n, float* acc, const float* v, float s) {
  for (int64_t i = 0; i < n; ++i) acc[i] = std::fma(v[i], s, acc[i]);
}

void tile_scores(int64_t D, const float* q, const float* kt, float* kq) {
  for (int64_t j = 0; j < kAttnTile; ++j) {
    float s = 0.0f;
    for (int64_t d = 0; d < D; ++d) s = std::fma(kt[d * kAttnTile + j], q[d], s);
    kq[j] = s;
  }
}

double tile_softmax(float* kq, float max) {
  double sum = 0.0;
  for (int64_t g = 0; g < kAttnTile; g += 8) {
    float e[8];
    for (int l = 0; l < 8; ++l) kq[g + l] = e[l] = ggml_v_expf(kq[g + l] - max);
    const float a0 = e[4] + e[0], a1 = e[5] + e[1], a2 = e[6] + e[2], a3 = e[7] + e[3];
    sum += double((a0 + a2) + (a1 + a3));
  }
  return sum;
}

void tile_values(int64_t D, float* acc, const float* v, const float* p, int64_t n) {
  for (int64_t i = 0; i < D; ++i) {
    float x = acc[i];
    for (int64_t j = 0; j < n; ++j) x = std::fma(v[j * D + i], p[j], x);
    acc[i] = x;
  }
}

}  // namespace

const RowKernels& row_kernels_ref() {
  static constexpr RowKernels k{swiglu, silu, mad_f16, scale_f16, mad_f32, tile_scores, tile_softmax, tile_values};
  return k;
}

}  // namespace db::cpu
