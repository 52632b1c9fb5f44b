// Per-weight-dtype dot products: the inner loop of matmul. As in ggml, the activation row is first
// converted to the weight's companion "dot type" (q8_0 for q4_0/q8_0 weights, f16 for f16, ...),
// so the dot product runs on compact integer or half data.
//
// Numerics contract (greedy decoding must pick llama.cpp's tokens on random-weight models, whose
// logits are nearly flat): for every weight dtype except bf16, every kernel, portable or SIMD,
// sums in exactly the order of ggml's CPU backend on an AVX2 machine, so results agree bit for bit.
// ggml uses a different kernel, and so a different order, depending on the shape:
//  - vec_dot       one activation row (decode): ggml_vec_dot_<type> (f32/f16: four 8-lane FMA
//                  accumulators over 32 elements; q8_0/q4_0: 8 lanes of 4-element integer sums,
//                  scaled and FMA-accumulated per block, then a horizontal sum);
//  - vec_dot_gemm  several activation rows, when llamafile's tinyBLAS takes the matmul (f32/f16
//                  weights with K % 8 == 0 and N % 4 == 0): one 8-lane FMA accumulator;
//  - vec_dot_x8    weights with N % 8 == 0 that ggml repacks 8 rows at a time (q4_0, q4_K and
//                  iq4_nl on AVX2): whole-block integer sums FMA-accumulated in one float.
// The K-quants (q2_K..q6_K against q8_K) and q4_1/q5_0/q5_1/iq4_nl follow the same contract: their
// reference kernels mirror ggml's AVX2 ones (vec_dot_quants.cpp), and the SIMD ones give the same bits.
// select_vec_dot() applies these rules; the matmul kernel uses it for every output.
#pragma once
#include <cstdint>

#include "drawbridge/dtype.h"

namespace db::cpu {

// dot(x, y) over n elements of a weight row x and an activation row y already in dot_type.
using VecDotFn = float (*)(int64_t n, const void* x, const void* y);
// Converts an f32 activation row to dot_type.
using FromFloatRowFn = void (*)(const float* src, void* dst, int64_t n);

struct DotTraits {
  DType dot_type;
  FromFloatRowFn from_float;
  VecDotFn vec_dot;
  VecDotFn vec_dot_gemm = nullptr;  // several activation rows (tinyBLAS order); null: vec_dot
  VecDotFn vec_dot_x8 = nullptr;    // weights repacked by 8 rows (N % 8 == 0); null: not repacked
  bool gemm_any_shape = false;      // vec_dot_gemm for every batch (tinyBLAS_Q0), not only K % 8, N % 4
  // Repacked weights whose 4-row gemm sums in another order than the one-row gemv (q4_K: one FMA
  // per 64 elements instead of per super-block): used for activation rows m < M - M % 4, as ggml
  // runs those 4 at a time and the rest one by one. Null: vec_dot_x8 for every row.
  VecDotFn vec_dot_x8_gemm = nullptr;
};

// The dot product ggml would use for a [K, N] weight times M activation rows.
inline VecDotFn select_vec_dot(const DotTraits& t, int64_t K, int64_t N, int64_t M) {
  if (t.vec_dot_x8 && N % 8 == 0) return t.vec_dot_x8;
  if (t.vec_dot_gemm && M >= 2 && (t.gemm_any_shape || (K % 8 == 0 && N % 4 == 0))) return t.vec_dot_gemm;
  return t.vec_dot;
}

// The dot product ggml would use for activation row m of M (differs from select_vec_dot only for
// repacked weights with a separate 4-row gemm order).
inline VecDotFn select_vec_dot_row(const DotTraits& t, int64_t K, int64_t N, int64_t M, int64_t m) {
  const VecDotFn f = select_vec_dot(t, K, N, M);
  if (f == t.vec_dot_x8 && t.vec_dot_x8_gemm && m < M - M % 4) return t.vec_dot_x8_gemm;
  return f;
}

// The traits for a weight dtype (the best kernel this CPU supports), or null when unsupported.
const DotTraits* dot_traits(DType weight);
// The portable reference traits (for tests of optimized kernels).
const DotTraits* dot_traits_ref(DType weight);
// Reference traits of the further block formats (K-quants, Q4_1, Q5_x, IQ4_NL); in vec_dot_quants.cpp.
const DotTraits* dot_traits_ref_quants(DType weight);
// The further block formats in the order of ggml's generic C kernels (quants.c), which differs
// from its AVX2 order: an independent accuracy reference for tests.
const DotTraits* dot_traits_generic(DType weight);

// Activation rows to q8_0 as ggml's AVX2 quantize_row_q8_0 does: scale 127 / amax and
// round-half-to-even. (quantize_q8_0 in core is ggml's reference, used for weights in files; the
// two differ in the last bit of some values.)
void quantize_row_q8_0_act(const float* src, void* dst, int64_t n);

}  // namespace db::cpu
