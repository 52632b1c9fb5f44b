#include "backends/cpu/weight_pack.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "backends/cpu/kernels.h"
#include "backends/cpu/thread_pool.h"
#include "core/quant_k.h"
#include "drawbridge/error.h"

namespace db::cpu {
namespace {

// Block b of rows r = 0..R-1 → packed block b: the scales, then bytes 4g..4g+3 of row r at
// 4R·g + 4r (BlockQ4_0x8 for R = 8, BlockQ4_0x16 for R = 16).
template <class Packed, int R>
void pack_q4_0_rows(int64_t k, const void* w, size_t ws, void* dst) {
  static_assert(sizeof(Packed) == R * sizeof(BlockQ4_0));
  auto* out = static_cast<Packed*>(dst);
  for (int64_t b = 0; b < k / QK4_0; ++b)
    for (int r = 0; r < R; ++r) {
      const auto& in = reinterpret_cast<const BlockQ4_0*>(static_cast<const char*>(w) + size_t(r) * ws)[b];
      out[b].d[r] = in.d;
      for (int g = 0; g < 4; ++g) std::memcpy(out[b].qs + 4 * R * g + 4 * r, in.qs + 4 * g, 4);
    }
}

// Bytes of one packed group: one Packed block per Elems elements of k.
template <class Packed, int64_t Elems>
size_t group_bytes(int64_t k) { return size_t(k / Elems) * sizeof(Packed); }

// Super-block b of rows r = 0..R-1 → packed block b: scales, unpacked sub-block scales and mins,
// then per pair p of sub-blocks bytes 32p + 4g .. + 3 of row r at qs[p][g][4r].
template <class Packed, int R>
void pack_q4_k_rows(int64_t k, const void* w, size_t ws, void* dst) {
  static_assert(sizeof(Packed::qs[0][0]) == 4 * R);
  auto* out = static_cast<Packed*>(dst);
  for (int64_t b = 0; b < k / QK_K; ++b)
    for (int r = 0; r < R; ++r) {
      const auto& in = reinterpret_cast<const BlockQ4_K*>(static_cast<const char*>(w) + size_t(r) * ws)[b];
      out[b].d[r] = in.d;
      out[b].dmin[r] = in.dmin;
      for (int j = 0; j < 8; ++j) k4_scale_min(j, in.scales, out[b].scales[j][r], out[b].mins[j / 2][r][j % 2]);
      for (int p = 0; p < 4; ++p)
        for (int g = 0; g < 8; ++g) std::memcpy(&out[b].qs[p][g][4 * r], in.qs + 32 * p + 4 * g, 4);
    }
}

bool x86_kernels_active() {
  const std::string_view isa = cpu_isa_name();
  return isa == "avx2" || isa == "avx512";
}

// DRAWBRIDGE_NO_REPACK=1 reads every weight as stored (llama.cpp's --no-repack), for comparisons.
bool repack_disabled() {
  static const bool off = [] {
    const char* env = std::getenv("DRAWBRIDGE_NO_REPACK");
    return env && *env && std::string_view(env) != "0";
  }();
  return off;
}

// Hands the pages wholly inside [p, p + n) back to the OS. A hint that never loses data: clean
// file-backed pages are dropped and re-read if touched, anonymous ones go to swap if there is any.
void release_pages(const void* p, size_t n) {
#ifdef MADV_PAGEOUT
  const auto page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(p) + page - 1) / page * page, end = (uintptr_t(p) + n) / page * page;
  if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);
#else
  (void)p, (void)n;
#endif
}

}  // namespace

const WeightLayout* packed_layout(DType weight, int64_t k, int64_t n) {
  static const WeightLayout q4_0x8{"q4_0x8", 8, group_bytes<BlockQ4_0x8, QK4_0>, pack_q4_0_rows<BlockQ4_0x8, 8>,
                                   gemm_kernel_ggml_avx2_q4_0x8_packed()};
  static const WeightLayout q4_0x16{"q4_0x16", 16, group_bytes<BlockQ4_0x16, QK4_0>, pack_q4_0_rows<BlockQ4_0x16, 16>,
                                    gemm_kernel_ggml_avx512_q4_0x16_packed()};
  static const WeightLayout q4_kx8{"q4_Kx8", 8, group_bytes<BlockQ4_Kx8, QK_K>, pack_q4_k_rows<BlockQ4_Kx8, 8>,
                                   gemm_kernel_ggml_avx2_q4_kx8_packed()};
  static const WeightLayout q4_kx16{"q4_Kx16", 16, group_bytes<BlockQ4_Kx16, QK_K>, pack_q4_k_rows<BlockQ4_Kx16, 16>,
                                    gemm_kernel_ggml_avx512_q4_kx16_packed()};
  // q4_0 and q4_K weights that ggml repacks (N % 8 == 0), read in that order by the AVX2 kernels;
  // on AVX-512 VNNI, those with N % 16 == 0 in 16-row groups (the same order per output).
  if (n % 8 != 0 || !x86_kernels_active() || repack_disabled()) return nullptr;
  if (weight == DType::Q4_0 && k % QK4_0 == 0) {
    if (n % 16 == 0 && avx512_vnni_active() && q4_0x16.kernel.tile) return &q4_0x16;
    if (q4_0x8.kernel.tile) return &q4_0x8;
  }
  if (weight == DType::Q4_K && k % QK_K == 0) {
    if (n % 16 == 0 && avx512_vnni_active() && q4_kx16.kernel.tile) return &q4_kx16;
    if (q4_kx8.kernel.tile) return &q4_kx8;
  }
  return nullptr;
}

size_t PackedWeights::pack(const Graph& g, ThreadPool& pool) {
  size_t packed = 0;
  for (const Node& n : g.nodes()) {
    if (n.op != Op::MatMul) continue;
    const Node& src = g.node(n.src[0]);
    const Tensor& w = src.out;
    if (src.op != Op::Leaf || w.is_meta() || !w.is_contiguous() || find(w)) continue;
    by_data_.erase(w.data);  // a copy made from another tensor that lived at this address
    const WeightLayout* layout = packed_layout(w.dtype, w.ne[0], w.ne[1]);
    if (!layout) continue;
    const size_t group = layout->group_bytes(w.ne[0]);
    const int64_t groups = w.ne[1] / layout->rows;
    const size_t bytes = group * size_t(groups);
    void* mem = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    DB_CHECK(mem != nullptr, "[cpu] cannot allocate {} bytes to pack weight '{}'", bytes, w.name);
    storage_.emplace_back(static_cast<char*>(mem), [](char* q) { std::free(q); });
    char* dst = storage_.back().get();
    pool.run([&](int ith, int nth) {
      int64_t g0, g1;
      split_rows(groups, ith, nth, g0, g1);
      for (int64_t i = g0; i < g1; ++i) layout->pack(w.ne[0], w.row(i * layout->rows), w.nb[1], dst + size_t(i) * group);
    });
    release_pages(w.data, w.nbytes());
    by_data_.emplace(w.data, PackedWeight{w.dtype, w.ne[0], w.ne[1], layout, dst, group});
    packed += bytes;
  }
  bytes_ += packed;
  return packed;
}

}  // namespace db::cpu
