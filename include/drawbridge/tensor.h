// Tensor descriptors. Dimensions follow the GGUF/ggml convention: ne[0] is the innermost
// (contiguous) dimension, so a weight matrix of a linear layer y = W x has ne = {in, out}.
// A tensor without data is a "meta" tensor: it has shape and dtype only, which is all the planner
// and the cost model need.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "drawbridge/dtype.h"

namespace db {

constexpr int kMaxDims = 4;

struct Tensor {
  std::string name;
  DType dtype = DType::F32;
  std::array<int64_t, kMaxDims> ne{1, 1, 1, 1};  // elements per dimension
  std::array<size_t, kMaxDims> nb{0, 0, 0, 0};   // bytes between consecutive indices per dimension
  void* data = nullptr;                          // null for meta tensors

  int64_t nelements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t nrows() const { return ne[1] * ne[2] * ne[3]; }
  size_t nbytes() const;  // bytes spanned by a contiguous tensor of this shape
  bool is_meta() const { return data == nullptr; }
  bool is_contiguous() const;
  int n_dims() const;  // highest dimension with ne > 1, at least 1
  std::string shape_str() const;  // "[64, 512]"

  template <typename T>
  T* as() const { return static_cast<T*>(data); }
  // Pointer to row (i1, i2, i3).
  char* row(int64_t i1, int64_t i2 = 0, int64_t i3 = 0) const {
    return static_cast<char*>(data) + i1 * nb[1] + i2 * nb[2] + i3 * nb[3];
  }
};

// A contiguous tensor descriptor of the given shape (validated: positive dims, block-aligned rows,
// no overflow); storage is left null.
Tensor make_tensor(std::string name, DType dtype, std::array<int64_t, kMaxDims> ne);
// Recomputes contiguous strides for t.dtype and t.ne.
void set_contiguous_strides(Tensor& t);

}  // namespace db
