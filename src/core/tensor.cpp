#include "drawbridge/tensor.h"

#include <fmt/format.h>

#include "drawbridge/error.h"

namespace db {

size_t Tensor::nbytes() const { return row_bytes(dtype, ne[0]) * size_t(nrows()); }

bool Tensor::is_contiguous() const {
  size_t expect = row_bytes(dtype, ne[0]);
  if (nb[0] != dtype_info(dtype).block_bytes && !dtype_info(dtype).quantized) return false;
  for (int d = 1; d < kMaxDims; ++d) {
    if (ne[d] > 1 && nb[d] != expect) return false;
    expect *= size_t(ne[d]);
  }
  return true;
}

int Tensor::n_dims() const {
  for (int d = kMaxDims - 1; d > 0; --d)
    if (ne[d] > 1) return d + 1;
  return 1;
}

std::string Tensor::shape_str() const {
  std::string s = "[";
  for (int d = 0; d < n_dims(); ++d) s += fmt::format("{}{}", d ? ", " : "", ne[d]);
  return s + "]";
}

void set_contiguous_strides(Tensor& t) {
  const DTypeInfo& info = dtype_info(t.dtype);
  t.nb[0] = info.block_bytes;
  t.nb[1] = row_bytes(t.dtype, t.ne[0]);
  for (int d = 2; d < kMaxDims; ++d) t.nb[d] = t.nb[d - 1] * size_t(t.ne[d - 1]);
}

Tensor make_tensor(std::string name, DType dtype, std::array<int64_t, kMaxDims> ne) {
  const DTypeInfo& info = dtype_info(dtype);
  int64_t total = 1;
  for (int d = 0; d < kMaxDims; ++d) {
    DB_CHECK(ne[d] > 0, "[tensor] '{}': dimension {} is {} (must be positive)", name, d, ne[d]);
    DB_CHECK(!__builtin_mul_overflow(total, ne[d], &total),
             "[tensor] '{}': element count overflows", name);
  }
  DB_CHECK(ne[0] % info.block_size == 0,
           "[tensor] '{}': row length {} is not a multiple of {}'s block size {}", name, ne[0],
           info.name, info.block_size);
  int64_t bytes = 0;
  DB_CHECK(!__builtin_mul_overflow(total / info.block_size, int64_t(info.block_bytes), &bytes),
           "[tensor] '{}': byte size overflows", name);
  Tensor t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.ne = ne;
  set_contiguous_strides(t);
  return t;
}

}  // namespace db
