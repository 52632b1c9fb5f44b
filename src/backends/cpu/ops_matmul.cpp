// Matrix multiplication y[N, M] = W[K, N] · x[K, M] for any supported weight dtype.
// Phase 1: the threads convert x to the weight's dot type (into shared scratch).
// Phase 2: each thread takes a band of weight rows (the split is over N, so every weight byte is
// read by one thread only) and
//  - decode (one activation row) without a special kernel: one dot product per weight row,
//    streaming the band once — bandwidth-bound;
//  - otherwise GEMM tiles (a few weight rows × a few activation rows per step, so each load feeds
//    several FMAs) over chunks of the band sized to stay in L2 while every activation row passes.
// Every output is summed in the order ggml uses for this shape (select_vec_dot, vec_dot.h), so the
// result matches llama.cpp bit for bit; a tile kernel is used only where it keeps that order.
// Weights packed at load (weight_pack.h) are read through their layout's tile kernel.
#include <algorithm>

#include "backends/cpu/kernels.h"
#include "backends/cpu/row_iter.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/vec_dot.h"
#include "backends/cpu/weight_pack.h"

namespace db::cpu {
namespace {

// Weight bytes per chunk of a band: about half of a typical 512 KiB–2 MiB L2.
constexpr size_t kChunkBytes = 256 * 1024;
// Activation preparations up to this size are made once per matmul rather than once per chunk.
constexpr size_t kPrepareOnceBytes = 2 * 1024 * 1024;

// Thread ith's band of n rows, in whole units of `align` rows, balanced to within one unit.
void band(int64_t n, int64_t align, int ith, int nth, int64_t& begin, int64_t& end) {
  const int64_t units = (n + align - 1) / align;
  begin = std::min(n, units * ith / nth * align);
  end = std::min(n, units * (ith + 1) / nth * align);
}

struct Operands {
  const Tensor& w;
  const char* x;  // activations in the dot type
  size_t x_row;   // bytes per activation row
  int64_t K, M;
  float* y;       // output row m at y + m * N
  int64_t N;
  const PackedWeight* packed;  // the weight as packed at load, or null: read as stored
};

// One dot product per output; with several activation rows, blocks of 16 weight rows stay in
// cache while every activation row passes.
void matvec_band(const DotTraits& tr, const Operands& o, int64_t n0, int64_t n1) {
  constexpr int64_t kRowBlock = 16;
  for (int64_t b0 = n0; b0 < n1; b0 += kRowBlock) {
    const int64_t b1 = std::min(n1, b0 + kRowBlock);
    for (int64_t m = 0; m < o.M; ++m) {
      const VecDotFn dot = select_vec_dot_row(tr, o.K, o.N, o.M, m);
      const char* xr = o.x + size_t(m) * o.x_row;
      float* y = o.y + m * o.N;
      for (int64_t r = b0; r < b1; ++r) y[r] = dot(o.K, o.w.row(r), xr);
    }
  }
}

// Packed weights and prepared activations live in this thread's matmul scratch (kernels.h).
char* scratch(size_t bytes) { return static_cast<char*>(thread_scratch(kScratchMatmul, bytes)); }

size_t align64(size_t n) { return (n + 63) / 64 * 64; }

void gemm_band(const GemmKernel& gk, const Operands& o, int64_t n0, int64_t n1) {
  const size_t w_row = o.w.nb[1];
  const int64_t chunk = std::max<int64_t>(gk.rows, int64_t(kChunkBytes / w_row) / gk.rows * gk.rows);
  const int64_t n_tiles = (o.M + gk.cols - 1) / gk.cols;
  const size_t pack_tile = gk.pack ? align64(gk.packed_bytes(o.K)) : 0;
  const size_t prep_tile = gk.prepare ? align64(gk.prepared_bytes(o.K)) : 0;
  // Small preparations (block scales) are made once for all activation tiles; large ones (f32
  // copies of the activations) once per tile per chunk, where they stay in cache.
  const bool prep_once = prep_tile * size_t(n_tiles) <= kPrepareOnceBytes;
  const size_t pack_bytes = pack_tile * size_t(chunk / gk.rows);
  char* packed = scratch(pack_bytes + prep_tile * size_t(prep_once ? n_tiles : 1));
  char* aux = packed + pack_bytes;
  auto x_tile = [&](int64_t m) { return o.x + size_t(m) * o.x_row; };
  auto aux_tile = [&](int64_t m) { return aux + (prep_once ? prep_tile * size_t(m / gk.cols) : 0); };
  auto cols_at = [&](int64_t m) { return int(std::min<int64_t>(gk.cols, o.M - m)); };
  if (gk.prepare && prep_once)
    for (int64_t m = 0; m < o.M; m += gk.cols) gk.prepare(o.K, x_tile(m), o.x_row, cols_at(m), aux_tile(m));

  GemmTile t{o.K, nullptr, w_row, 0, nullptr, o.x_row, 0, nullptr, nullptr, size_t(o.N)};
  for (int64_t c0 = n0; c0 < n1; c0 += chunk) {
    const int64_t c1 = std::min(n1, c0 + chunk);
    auto packed_tile = [&](int64_t r) { return packed + pack_tile * size_t((r - c0) / gk.rows); };
    if (gk.pack)
      for (int64_t r = c0; r < c1; r += gk.rows)
        gk.pack(o.K, o.w.row(r), w_row, int(std::min<int64_t>(gk.rows, c1 - r)), packed_tile(r));
    for (int64_t m = 0; m < o.M; m += gk.cols) {
      t.nc = cols_at(m);
      t.x = x_tile(m);
      t.aux = gk.prepare ? aux_tile(m) : nullptr;
      if (gk.prepare && !prep_once) gk.prepare(o.K, t.x, o.x_row, t.nc, aux);
      for (int64_t r = c0; r < c1; r += gk.rows) {
        t.nr = int(std::min<int64_t>(gk.rows, c1 - r));
        t.w = o.packed ? o.packed->data + size_t(r / gk.rows) * o.packed->group_bytes
                       : gk.pack ? packed_tile(r) : o.w.row(r);
        t.y = o.y + m * o.N + r;
        gk.tile(t);
      }
    }
  }
}

}  // namespace

void kernel_matmul(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& w = g.node(n.src[0]).out;
  const Tensor& x = g.node(n.src[1]).out;
  const DotTraits* tr = dot_traits(w.dtype);
  const int64_t K = w.ne[0], N = w.ne[1], M = x.nrows();

  const char* xq = nullptr;
  size_t xq_row = 0;
  if (tr->dot_type == DType::F32 && x.is_contiguous()) {
    xq = static_cast<const char*>(x.data);
    xq_row = x.nb[1];
  } else {
    xq_row = row_bytes(tr->dot_type, K);
    int64_t m0, m1;
    split_rows(M, ctx.ith, ctx.nth, m0, m1);
    for (int64_t m = m0; m < m1; ++m)
      tr->from_float(frow(x, m), static_cast<char*>(ctx.work) + size_t(m) * xq_row, K);
    ctx.barrier();
    xq = static_cast<const char*>(ctx.work);
  }

  // The output is an arena tensor, hence contiguous: row m starts at m * N.
  // A weight packed at load is read through its layout's kernel, which keeps this shape's order.
  const PackedWeight* packed = ctx.packed ? ctx.packed->find(w) : nullptr;
  const Operands o{w, xq, xq_row, K, M, n.out.as<float>(), N, packed};
  const GemmKernel gk = packed ? packed->layout->kernel : gemm_kernel(w.dtype, K, N, M);
  int64_t n0, n1;
  band(N, gk.tile ? gk.rows : 1, ctx.ith, ctx.nth, n0, n1);
  if (gk.tile) gemm_band(gk, o, n0, n1);
  else matvec_band(*tr, o, n0, n1);
}

}  // namespace db::cpu
