// Kernel tables behind runtime CPU dispatch. Each simd_<isa>.cpp is compiled with its own target
// flags (see CMakeLists.txt) and is only entered after dispatch.cpp has checked that this CPU has
// the ISA, so the rest of the backend stays portable.
#pragma once
#include <cstddef>
#include <cstdint>

#include "backends/cpu/vec_dot.h"

namespace db::cpu {

// What the running CPU (and OS: AVX state must be enabled in XCR0) supports.
struct CpuFeatures {
  bool avx2 = false;     // AVX2 + FMA + F16C, the x86-64-v3 kernel set
  bool avx512 = false;   // AVX-512 F/BW/DQ/VL
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  bool neon_dotprod = false;  // ARM64 Advanced SIMD with SDOT/UDOT (HWCAP_ASIMDDP)
};
const CpuFeatures& cpu_features();

// The kernel family dot_traits() picks: "avx512", "avx2", "neon" or "ref" (DRAWBRIDGE_CPU_ISA=ref|avx2
// in the environment caps it, for comparisons and bisecting).
const char* cpu_isa_name();
// True when the AVX-512 family is active and the CPU has VNNI: ggml_avx512.cpp's tiles and the
// 16-row packed layouts are used.
bool avx512_vnni_active();

// One GEMM tile: y[c * ys + r] = dot(weight row r, activation row c) for r < nr, c < nc.
struct GemmTile {
  int64_t k;
  const void* w;    // weight rows, ws bytes apart; or the tile packed by GemmKernel::pack
  size_t ws;
  int nr;
  const void* x;    // activation rows in the dot type, xs bytes apart
  size_t xs;
  int nc;
  const void* aux;  // what GemmKernel::prepare wrote for these activation rows, if it exists
  float* y;
  size_t ys;
};

// A matmul micro-kernel for tiles of up to rows × cols, with optional repacking of weight tiles
// (done per cache-sized chunk, reused by every activation tile) and preparation of activation
// tiles (reused by every weight tile of a chunk).
struct GemmKernel {
  void (*tile)(const GemmTile& t) = nullptr;  // null: no kernel; matmul uses vec_dot
  int rows = 1;
  int cols = 1;
  size_t (*packed_bytes)(int64_t k) = nullptr;  // per weight tile; null: no packing
  void (*pack)(int64_t k, const void* w, size_t ws, int nr, void* dst) = nullptr;
  size_t (*prepared_bytes)(int64_t k) = nullptr;  // per activation tile; null: no preparation
  void (*prepare)(int64_t k, const void* x, size_t xs, int nc, void* dst) = nullptr;
};

// The value update of online-softmax attention: acc[i] = acc[i] * ms + v[i] * vs, rounded as
// written (two products, one sum; no FMA contraction), with acc and v of the named types (an f16
// acc is rounded back to f16 after each update, as llama.cpp keeps it).
using MadRowFn = void (*)(int64_t n, void* acc, float ms, float vs, const void* v);

// One query row of causal attention over an f16 cache, the whole loop of the reference steps
// (see ops_attention.cpp) in one kernel: q already rounded to f16, n_kv key and value rows.
struct AttendRow {
  const uint16_t* q;
  const char* k;
  size_t k_stride;
  const char* v;
  size_t v_stride;
  int64_t n_kv;
  int64_t d;  // at most kMaxAttendDim
  float scale;
  float* out;
};
constexpr int64_t kMaxAttendDim = 512;

struct AttentionKernels {
  MadRowFn mad_f32_f32 = nullptr;
  MadRowFn mad_f16_f16 = nullptr;
  void (*row_f16)(const AttendRow& a) = nullptr;  // null: composed from the above
};

// The best GEMM kernel for this CPU (same ISA as dot_traits()) for a [k, n] weight and m
// activation rows (packing pays off only for enough of them). For f32, f16, q8_0 and q4_0 only a
// kernel that sums every output in the order select_vec_dot() names for this shape (vec_dot.h,
// ggml's order), or none: the matmul then uses that dot product per output.
GemmKernel gemm_kernel(DType weight, int64_t k, int64_t n, int64_t m);
const AttentionKernels& attention_kernels();
const AttentionKernels& attention_kernels_ref();

// Per-ISA tables; null / empty when the ISA has no kernel for the dtype. Call only when
// cpu_features() reports the ISA.
const DotTraits* dot_traits_avx2(DType weight);
GemmKernel gemm_kernel_avx2(DType weight, int64_t m);
// The AVX2 dot products in ggml's order for f32/f16/q8_0/q4_0 (ggml_avx2.cpp; null otherwise),
// and the AVX2 row kernels (row_kernels.h).
const DotTraits* dot_traits_ggml_avx2(DType weight);
// The further block formats (Q2_K..Q6_K, Q4_1, Q5_0, Q5_1, IQ4_NL) in ggml's AVX2 order;
// ggml_avx2_kquants.cpp.
const DotTraits* dot_traits_ggml_avx2_kquants(DType weight);
// 8 q4_K weight rows × up to 4 activation rows in ggml's repacked (q4_K_8x8) order.
GemmKernel gemm_kernel_ggml_avx2_q4_k_x8();
struct RowKernels;
const RowKernels& row_kernels_ggml_avx2();
// 8 q4_0 weight rows × up to 4 activation rows in ggml's repacked (q4_0x8) order.
GemmKernel gemm_kernel_ggml_avx2_q4_x8();
// 8 q4_0 weight rows packed at load (weight_pack.h): block b of the group holds the 8 rows' scales
// and then their nibbles, 4 bytes of each row per 32-byte vector, so one vector feeds 8 outputs.
struct BlockQ4_0x8 {
  uint16_t d[8];    // f16 scale of row r
  uint8_t qs[128];  // bytes 4g..4g+3 of row r's qs at qs[32 g + 4 r], g = 0..3
};
static_assert(sizeof(BlockQ4_0x8) == 8 * 18);
// The same order as gemm_kernel_ggml_avx2_q4_x8, reading groups of BlockQ4_0x8 (GemmTile::w).
GemmKernel gemm_kernel_ggml_avx2_q4_0x8_packed();
// 16 q4_0 rows packed at load for AVX-512: as BlockQ4_0x8, with 16 rows per 64-byte vector.
struct BlockQ4_0x16 {
  uint16_t d[16];   // f16 scale of row r
  uint8_t qs[256];  // bytes 4g..4g+3 of row r's qs at qs[64 g + 4 r], g = 0..3
};
static_assert(sizeof(BlockQ4_0x16) == 16 * 18);
// AVX-512 VNNI tiles in ggml's orders (ggml_avx512.cpp; empty kernels where not compiled): the
// repacked q4_0 order on BlockQ4_0x16 groups, and for f32/f16/q8_0/q4_0/q6_K weights as stored
// the per-output 8-lane orders of ggml's kernels for batches (tinyBLAS's for floats, K % 8 == 0;
// ggml_vec_dot_q8_0_q8_0's and _q6_K_q8_K's); bf16 (no order contract) uses the float tile.
GemmKernel gemm_kernel_ggml_avx512_q4_0x16_packed();
GemmKernel gemm_kernel_ggml_avx512_gemm(DType weight);
// 8 q4_K weight rows packed at load: super-block b of the group holds the 8 rows' scales as
// floats' f16 halves, their 6-bit sub-block scales and mins unpacked to bytes, and the nibbles
// interleaved like BlockQ4_0x8 (per pair p of sub-blocks, 4 bytes of each row per vector).
struct BlockQ4_Kx8 {
  uint16_t d[8], dmin[8];  // row r's super-block scales (f16)
  uint8_t scales[8][8];    // [sub-block j][row r]
  uint8_t mins[4][8][2];   // [pair p][row r][sub-block 2p, 2p + 1]
  uint8_t qs[4][8][32];    // [pair p][group g][row r · 4 + i] = byte 32p + 4g + i of row r's qs
};
static_assert(sizeof(BlockQ4_Kx8) == 8 * 144 + 32);
// The same orders as gemm_kernel_ggml_avx2_q4_k_x8, reading groups of BlockQ4_Kx8.
GemmKernel gemm_kernel_ggml_avx2_q4_kx8_packed();
// 16 q4_K rows packed at load for AVX-512: as BlockQ4_Kx8, with 16 rows per 64-byte vector.
struct BlockQ4_Kx16 {
  uint16_t d[16], dmin[16];
  uint8_t scales[8][16];
  uint8_t mins[4][16][2];
  uint8_t qs[4][8][64];  // [pair p][group g][row r · 4 + i] = byte 32p + 4g + i of row r's qs
};
static_assert(sizeof(BlockQ4_Kx16) == 16 * 144 + 64);
// The same orders as gemm_kernel_ggml_avx2_q4_kx8_packed on BlockQ4_Kx16 groups (ggml_avx512.cpp).
GemmKernel gemm_kernel_ggml_avx512_q4_kx16_packed();
// The AVX2 tiles that keep ggml's order for f32/f16/q8_0/q4_0 (see gemm_kernel()).
GemmKernel gemm_kernel_avx2_ggml_order(DType weight, int64_t m);
const AttentionKernels& attention_kernels_avx2();
const DotTraits* dot_traits_avx512(DType weight);
GemmKernel gemm_kernel_avx512(DType weight, int64_t m);
// ARM64 NEON + dot product (simd_neon.cpp); null off ARM64 or for other dtypes.
const DotTraits* dot_traits_neon(DType weight);

}  // namespace db::cpu
