// Per-weight-dtype dot products: the inner loop of matmul. As in ggml, the activation row is first
// converted to the weight's companion "dot type" (q8_0 for q4_0/q8_0 weights, f16 for f16, ...),
// so the dot product runs on compact integer or half data.
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
};

// The traits for a weight dtype (the best kernel this CPU supports), or null when unsupported.
const DotTraits* dot_traits(DType weight);
// The portable reference traits (for tests of optimized kernels).
const DotTraits* dot_traits_ref(DType weight);
// Reference traits of the further block formats (K-quants, Q4_1, Q5_x, IQ4_NL); in vec_dot_quants.cpp.
const DotTraits* dot_traits_ref_quants(DType weight);

}  // namespace db::cpu
