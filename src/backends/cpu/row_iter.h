// Row addressing for tensors whose rows are contiguous but whose higher dims may be strided views.
#pragma once
#include "drawbridge/tensor.h"

namespace db::cpu {

// Pointer to flat row r of t (rows enumerate dims 1..3 in order).
inline char* row_ptr(const Tensor& t, int64_t r) {
  const int64_t i1 = r % t.ne[1];
  const int64_t i2 = (r / t.ne[1]) % t.ne[2];
  const int64_t i3 = r / (t.ne[1] * t.ne[2]);
  return t.row(i1, i2, i3);
}
inline float* frow(const Tensor& t, int64_t r) { return reinterpret_cast<float*>(row_ptr(t, r)); }

}  // namespace db::cpu
