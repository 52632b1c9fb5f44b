// AVX-512 (F/BW/DQ/VL + VNNI) GEMM tiles that keep ggml's summation order (vec_dot.h): each output
// lane sees exactly the operations the AVX2 tile gives it, so results are the same bits; the wider
// registers carry two 8-lane halves (two weight rows, or 16 rows of a packed group) at once, and
// vpdpbusd forms the 4-byte integer sums in one instruction where AVX2 needs vpmaddubsw + vpmaddwd
// (integer sums are exact, so the instruction that forms them does not change a bit).
// Only this file is compiled with the AVX-512 flags; dispatch.cpp enters it after checking the CPU.
// Internal linkage throughout, no standard-library templates.
#include "backends/cpu/simd.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && \
    defined(__AVX512VL__) && defined(__AVX512VNNI__) && defined(__FMA__) && defined(__F16C__)
#include "backends/cpu/ggml_avx2_common.h"
#include "core/quant_k.h"

namespace db::cpu {
namespace {

inline __m512i bcast4_512(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// Calls f(Cols<n>{}) for the tile's activation-row count n = nc (1..N), so each count gets its
// own unrolled tile.
template <int N>
struct Cols {
  static constexpr int value = N;
};
template <int N, class F>
void for_cols(int nc, const F& f) {
  if constexpr (N > 1)
    if (nc < N) return for_cols<N - 1>(nc, f);
  f(Cols<N>{});
}

// Outputs of tiles that hold weight rows 2p and 2p + 1 in the halves of acc[p][c]: hsum_float_8 of
// each half, rows past t.nr dropped.
template <int P, int C>
void store_row_pairs(const __m512 (&acc)[P][C], const GemmTile& t) {
  for (int p = 0; p < P; ++p)
    for (int c = 0; c < C; ++c) {
      float* y = t.y + size_t(c) * t.ys + 2 * p;
      if (2 * p < t.nr) y[0] = hsum8(_mm512_castps512_ps256(acc[p][c]));
      if (2 * p + 1 < t.nr) y[1] = hsum8(_mm512_extractf32x8_ps(acc[p][c], 1));
    }
}

// ---- q4_0 on weights packed 16 rows at a time (BlockQ4_0x16) ----------------------------------
// ggml sums each output of repacked q4_0 as one float, block after block:
// acc = fma(float(block integer sum), d_w · d_x, acc) (dot_q4_0_x8). Here one 512-bit lane per
// weight row: vector g of a packed block holds 4 bytes of each of 16 rows, vpdpbusd against 4
// broadcast activation bytes adds 4 products to every row's sum, and one FMA advances 16 outputs.
// Nibbles are used unsigned (0..15) against signed activations; the sum starts at -8·Σx (prepared
// per activation block), which makes it Σ(q - 8)·x exactly.
constexpr int kX16Rows = 16, kX16Cols = 4;

size_t q4_x16_prepared_bytes(int64_t k) { return size_t(k / QK8_0) * kX16Cols * sizeof(int32_t); }

void q4_x16_prepare(int64_t k, const void* x, size_t xs, int nc, void* dst) {
  auto* sums = static_cast<int32_t*>(dst);  // [block][column]: -8·Σx
  const __m256i ones8 = _mm256_set1_epi8(1);
  for (int c = 0; c < nc; ++c) {
    auto* xb = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(x) + size_t(c) * xs);
    for (int64_t b = 0; b < k / QK8_0; ++b) {
      const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs));
      sums[b * kX16Cols + c] = -8 * hsum_i32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ones8, xq));
    }
  }
}

template <int C>
void q4_x16_tile(const GemmTile& t) {
  const auto* w = static_cast<const BlockQ4_0x16*>(t.w);
  const auto* sums = static_cast<const int32_t*>(t.aux);
  const BlockQ8_0* x[C];
  for (int c = 0; c < C; ++c) x[c] = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(t.x) + size_t(c) * t.xs);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < t.k / QK4_0; ++b) {
    __m512i lo[4], hi[4];
    for (int g = 0; g < 4; ++g) {
      const __m512i v = _mm512_loadu_si512(w[b].qs + 64 * g);
      lo[g] = _mm512_and_si512(v, low4);
      hi[g] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].d)));
    for (int c = 0; c < C; ++c) {
      const int8_t* xq = x[c][b].qs;
      __m512i s = _mm512_set1_epi32(sums[b * kX16Cols + c]);
      for (int g = 0; g < 4; ++g) {
        s = _mm512_dpbusd_epi32(s, lo[g], bcast4_512(xq + 4 * g));
        s = _mm512_dpbusd_epi32(s, hi[g], bcast4_512(xq + 16 + 4 * g));
      }
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(h2f(x[c][b].d))), acc[c]);
    }
  }
  for (int c = 0; c < C; ++c) _mm512_storeu_ps(t.y + size_t(c) * t.ys, acc[c]);  // packed groups are whole
}

void q4_x16(const GemmTile& t) {
  for_cols<kX16Cols>(t.nc, [&](auto c) { q4_x16_tile<decltype(c)::value>(t); });
}

// ---- q4_K on weights packed 16 rows at a time (BlockQ4_Kx16) ------------------------------------
// q4_k_packed_tile of ggml_avx2_kquants.cpp at twice the rows per instruction: per pair p of
// sub-blocks, lane r gets isum_p = sc[2p]·Σ(sub-block 2p) + sc[2p+1]·Σ(sub-block 2p+1) and
// imin_p = m[2p]·s[2p] + m[2p+1]·s[2p+1], exact integers; then ggml's FMAs: one per pair (its
// 4-row gemm, Gemm = true) or one per super-block (its gemv).
inline __m512i row_pairs16(const uint8_t* v16) {  // lane r = (v[r], v[r]) as two int16
  const __m512i s = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v16)));
  return _mm512_or_si512(s, _mm512_slli_epi32(s, 16));
}

template <int C, bool Gemm>
void q4_k_x16_tile(const GemmTile& t) {
  const auto* w = static_cast<const BlockQ4_Kx16*>(t.w);
  const BlockQ8_K* x[C];
  for (int c = 0; c < C; ++c) x[c] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(t.x) + size_t(c) * t.xs);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m512 acc[C], acc_min[C];
  for (int c = 0; c < C; ++c) acc[c] = acc_min[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < t.k / QK_K; ++b) {
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].d)));
    const __m512 dminw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].dmin)));
    alignas(16) int32_t pairs[C][4];  // (s[2p], s[2p+1]) as two int16: the activation's sub-block sums
    __m512i isum[C], imin[C];
    for (int c = 0; c < C; ++c) {
      const __m128i s16 = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[c][b].bsums)),
                                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[c][b].bsums + 8)));
      _mm_store_si128(reinterpret_cast<__m128i*>(pairs[c]), s16);
      isum[c] = imin[c] = _mm512_setzero_si512();
    }
    for (int p = 0; p < 4; ++p) {
      __m512i slo[C], shi[C];  // int16: 8 groups of at most 2·15·127, below 32767
      for (int c = 0; c < C; ++c) slo[c] = shi[c] = _mm512_setzero_si512();
      for (int g = 0; g < 8; ++g) {
        const __m512i v = _mm512_loadu_si512(w[b].qs[p][g]);
        const __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        for (int c = 0; c < C; ++c) {
          const int8_t* xq = x[c][b].qs + 64 * p + 4 * g;
          slo[c] = _mm512_add_epi16(slo[c], _mm512_maddubs_epi16(lo, bcast4_512(xq)));
          shi[c] = _mm512_add_epi16(shi[c], _mm512_maddubs_epi16(hi, bcast4_512(xq + 32)));
        }
      }
      const __m512i sc_lo = row_pairs16(w[b].scales[2 * p]), sc_hi = row_pairs16(w[b].scales[2 * p + 1]);
      const __m512i mins = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].mins[p])));
      for (int c = 0; c < C; ++c) {
        const __m512i ip = _mm512_dpwssd_epi32(_mm512_madd_epi16(slo[c], sc_lo), shi[c], sc_hi);
        const __m512i mp = _mm512_madd_epi16(mins, _mm512_set1_epi32(pairs[c][p]));
        if constexpr (Gemm) {
          const __m512 dy = _mm512_set1_ps(x[c][b].d);
          acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ip), _mm512_mul_ps(dw, dy), acc[c]);
          acc_min[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mp), _mm512_mul_ps(dminw, dy), acc_min[c]);
        } else {
          isum[c] = _mm512_add_epi32(isum[c], ip);
          imin[c] = _mm512_add_epi32(imin[c], mp);
        }
      }
    }
    if constexpr (!Gemm)
      for (int c = 0; c < C; ++c) {
        const __m512 dy = _mm512_set1_ps(x[c][b].d);
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), _mm512_mul_ps(dw, dy), acc[c]);
        acc_min[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(imin[c]), _mm512_mul_ps(dminw, dy), acc_min[c]);
      }
  }
  for (int c = 0; c < C; ++c) _mm512_storeu_ps(t.y + size_t(c) * t.ys, _mm512_sub_ps(acc[c], acc_min[c]));
}

constexpr int kKCols = 4;  // ggml's repacked q4_K gemm takes activation rows 4 at a time

void q4_k_x16(const GemmTile& t) {
  if (t.nc == kKCols) return q4_k_x16_tile<kKCols, true>(t);
  for (int c = 0; c < t.nc; ++c) {  // the M % 4 last activation rows (or decode), one at a time
    GemmTile one = t;
    one.x = static_cast<const char*>(t.x) + size_t(c) * t.xs;
    one.y = t.y + size_t(c) * t.ys;
    one.nc = 1;
    q4_k_x16_tile<1, false>(one);
  }
}

// ---- q6_K weights, several activation rows ------------------------------------------------------
// ggml_vec_dot_q6_K_q8_K per output: int32 lane l of each 32-element quarter gets
// scale · Σ(elements 4l..4l+3) (vpmaddubsw, then vpmaddwd by the 16-element sub-block's scale),
// summed over the super-block; minus 32 · Σ scale·bsum; one FMA per super-block into 8 float
// lanes, then hsum_float_8. Two weight rows per 512-bit register, as for q8_0; each row's quants
// and scales are decoded once per super-block for all activation rows of the tile.
constexpr int kQ6Rows = 4, kQ6Cols = 4;

template <int C>
void q6_k_tile(const GemmTile& t) {
  constexpr int P = kQ6Rows / 2;
  const BlockQ6_K* w[kQ6Rows];
  for (int r = 0; r < kQ6Rows; ++r)  // rows past nr repeat the last one; their sums are not stored
    w[r] = reinterpret_cast<const BlockQ6_K*>(static_cast<const char*>(t.w) + size_t(r < t.nr ? r : t.nr - 1) * t.ws);
  const BlockQ8_K* x[C];
  for (int c = 0; c < C; ++c) x[c] = reinterpret_cast<const BlockQ8_K*>(static_cast<const char*>(t.x) + size_t(c) * t.xs);
  auto both = [](__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); };
  auto scales16 = [](const BlockQ6_K& b) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
  };
  __m512 acc[P][C];
  for (int p = 0; p < P; ++p)
    for (int c = 0; c < C; ++c) acc[p][c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < t.k / QK_K; ++b) {
    __m512i sc16[P], sumi[P][C];
    for (int p = 0; p < P; ++p) {
      sc16[p] = both(scales16(w[2 * p][b]), scales16(w[2 * p + 1][b]));
      for (int c = 0; c < C; ++c) sumi[p][c] = _mm512_setzero_si512();
    }
    for (int h = 0; h < 2; ++h)
      for (int k = 0; k < 4; ++k) {
        const int s = 8 * h + 2 * k;  // sub-blocks s and s + 1: sc[s] ×8 | sc[s+1] ×8 per row
        auto halves = [](int lo, int hi) { return _mm256_set_m128i(_mm_set1_epi16(int16_t(hi)), _mm_set1_epi16(int16_t(lo))); };
        const __m512i pick = both(halves(s, s + 1), halves(16 + s, 17 + s));  // row B's scales are int16 lanes 16..31
        __m512i q[P], scale[P];
        for (int p = 0; p < P; ++p) {
          q[p] = both(q6_k_quarter(w[2 * p][b], h, k), q6_k_quarter(w[2 * p + 1][b], h, k));
          scale[p] = _mm512_permutexvar_epi16(pick, sc16[p]);
        }
        for (int c = 0; c < C; ++c) {
          const __m512i yv = _mm512_broadcast_i64x4(load(x[c][b].qs + 128 * h + 32 * k));
          for (int p = 0; p < P; ++p)
            sumi[p][c] = _mm512_add_epi32(sumi[p][c], _mm512_madd_epi16(scale[p], _mm512_maddubs_epi16(q[p], yv)));
        }
      }
    for (int c = 0; c < C; ++c) {
      const __m512i bsums = _mm512_broadcast_i64x4(load(x[c][b].bsums));
      const __m512 dy = _mm512_set1_ps(x[c][b].d);
      for (int p = 0; p < P; ++p) {
        const __m512i s = _mm512_sub_epi32(sumi[p][c], _mm512_slli_epi32(_mm512_madd_epi16(bsums, sc16[p]), 5));
        const __m512 dw = _mm512_insertf32x8(_mm512_set1_ps(h2f(w[2 * p][b].d)), _mm256_set1_ps(h2f(w[2 * p + 1][b].d)), 1);
        acc[p][c] = _mm512_fmadd_ps(_mm512_mul_ps(dy, dw), _mm512_cvtepi32_ps(s), acc[p][c]);
      }
    }
  }
  store_row_pairs<P, C>(acc, t);
}

void q6_k_tiles(const GemmTile& t) {
  for_cols<kQ6Cols>(t.nc, [&](auto c) { q6_k_tile<decltype(c)::value>(t); });
}

// ---- q8_0 and q4_0 weights as stored, several activation rows -----------------------------------
// ggml_vec_dot_q8_0_q8_0 (and _q4_0_q8_0) per output: 8 int32 lanes of 4-product sums, scaled by
// d_w · d_x and FMA-accumulated block after block, then hsum_float_8. A 512-bit register holds two
// weight rows' 8 lanes (low half row r, high half row r + 1) against the activation block broadcast
// to both halves. vpdpbusd takes unsigned × signed bytes, so activations go in offset by 128 and
// the sum starts at -128·Σw per lane (made once per weight block): Σ(x + 128)·w - 128·Σw = Σx·w,
// the very integers ggml's vpmaddubsw/vpmaddwd pair forms.
constexpr int kQRows = 8, kQCols = 4;

struct Q8Weights {
  using Block = BlockQ8_0;
  static __m256i bytes(const Block& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }
};
struct Q4Weights {
  using Block = BlockQ4_0;
  static __m256i bytes(const Block& b) {  // 32 nibbles minus 8: low nibbles first, as ggml's bytes_from_nibbles_32
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
    const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
    return _mm256_sub_epi8(_mm256_and_si256(both, _mm256_set1_epi8(0x0F)), _mm256_set1_epi8(8));
  }
};

template <class Wt, int C>
void quant_tile(const GemmTile& t) {
  using WB = typename Wt::Block;
  constexpr int P = kQRows / 2;  // row pairs
  const WB* w[kQRows];
  for (int r = 0; r < kQRows; ++r)  // rows past nr repeat the last one; their sums are not stored
    w[r] = reinterpret_cast<const WB*>(static_cast<const char*>(t.w) + size_t(r < t.nr ? r : t.nr - 1) * t.ws);
  const BlockQ8_0* x[C];
  for (int c = 0; c < C; ++c) x[c] = reinterpret_cast<const BlockQ8_0*>(static_cast<const char*>(t.x) + size_t(c) * t.xs);
  const __m512i offset = _mm512_set1_epi8(char(0x80));
  __m512 acc[P][C];
  for (int p = 0; p < P; ++p)
    for (int c = 0; c < C; ++c) acc[p][c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < t.k / QK8_0; ++b) {
    __m512i wq[P], wsum[P];
    __m512 dw[P];
    for (int p = 0; p < P; ++p) {
      wq[p] = _mm512_inserti64x4(_mm512_castsi256_si512(Wt::bytes(w[2 * p][b])), Wt::bytes(w[2 * p + 1][b]), 1);
      wsum[p] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, wq[p]));
      dw[p] = _mm512_insertf32x8(_mm512_set1_ps(h2f(w[2 * p][b].d)), _mm256_set1_ps(h2f(w[2 * p + 1][b].d)), 1);
    }
    for (int c = 0; c < C; ++c) {
      const __m512i xq = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[c][b].qs)));
      const __m512i xu = _mm512_xor_si512(xq, offset);  // x + 128 as unsigned bytes
      const __m512 dx = _mm512_set1_ps(h2f(x[c][b].d));
      for (int p = 0; p < P; ++p) {
        const __m512 s = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(wsum[p], xu, wq[p]));
        acc[p][c] = _mm512_fmadd_ps(_mm512_mul_ps(dw[p], dx), s, acc[p][c]);
      }
    }
  }
  store_row_pairs<P, C>(acc, t);
}

template <class Wt>
void quant_tiles(const GemmTile& t) {
  for_cols<kQCols>(t.nc, [&](auto c) { quant_tile<Wt, decltype(c)::value>(t); });
}

// ---- f32/f16/bf16 weights, several activation rows (tinyBLAS's order) ------------------------------
// llamafile's tinyBLAS sums each output in one 8-lane FMA accumulator over k (K % 8 == 0), then
// hsum_float_8. Here a register holds two weight rows' 8 lanes against the same 8 activations in
// both halves: 6 weight rows × 8 activation rows in 24 accumulators. Activations (in the dot type:
// f32, f16 or bf16) are expanded to f32 once per tile by prepare(), and weights once per L2-sized
// chunk by pack(), both exactly (converting f16 in the tile cost 15 % at pp512). bf16 weights are
// outside ggml's order contract and use the same tile: vdpbf16ps (two products per lane) was
// slower here (72 against 77 t/s for the AVX2 tiles, 101 for this one).
constexpr int kFRows = 6, kFCols = 8;

size_t float_prepared_bytes(int64_t k) { return size_t(kFCols) * size_t(k) * sizeof(float); }

// Activations of the dot type (f32, f16 or bf16) to f32, exactly; k % 8 == 0.
template <__m256 (*Expand)(const void*, int64_t)>
void expand_prepare(int64_t k, const void* x, size_t xs, int nc, void* dst) {
  for (int c = 0; c < nc; ++c) {
    float* out = static_cast<float*>(dst) + size_t(c) * size_t(k);
    const void* row = static_cast<const char*>(x) + size_t(c) * xs;
    for (int64_t i = 0; i < k; i += 8) _mm256_storeu_ps(out + i, Expand(row, i));
  }
}

// Weights expanded to f32 once per chunk (GemmKernel::pack), two rows interleaved per 8-step:
// packed[i / 8][p] = row 2p's 8 values at i, then row 2p + 1's; the tile then only loads.
size_t pair_packed_bytes(int64_t k) { return size_t(k) * kFRows * sizeof(float); }

// Elements i..i+7 of a row of f32, f16 or bf16 as f32 (exact).
inline __m256 f32x8(const void* row, int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(row) + i); }
inline __m256 f16x8(const void* row, int64_t i) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + i)));
}
inline __m256 bf16x8(const void* row, int64_t i) {  // bf16 is the top half of an f32
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + i));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

template <__m256 (*Expand)(const void*, int64_t)>
void pair_pack(int64_t k, const void* w, size_t ws, int nr, void* dst) {
  auto* out = static_cast<float*>(dst);
  for (int r = 0; r < kFRows; ++r) {
    const void* row = static_cast<const char*>(w) + size_t(r < nr ? r : nr - 1) * ws;
    for (int64_t i = 0; i < k; i += 8) _mm256_storeu_ps(out + (i / 8) * 8 * kFRows + 8 * r, Expand(row, i));
  }
}

struct PackedPairs {
  static __m512 pair(const void* w, int p, int64_t i) {
    return _mm512_loadu_ps(static_cast<const float*>(w) + (i / 8) * 8 * kFRows + 16 * p);
  }
};

template <int C>
void float_packed_tile(const GemmTile& t) {
  constexpr int P = kFRows / 2;
  const float* x[C];
  for (int c = 0; c < C; ++c) x[c] = static_cast<const float*>(t.aux) + size_t(c) * size_t(t.k);
  __m512 acc[P][C];
  for (int p = 0; p < P; ++p)
    for (int c = 0; c < C; ++c) acc[p][c] = _mm512_setzero_ps();
  for (int64_t i = 0; i < t.k; i += 8) {
    __m512 wv[P];
    for (int p = 0; p < P; ++p) wv[p] = PackedPairs::pair(t.w, p, i);
    for (int c = 0; c < C; ++c) {
      const __m512 xv = _mm512_broadcast_f32x8(_mm256_loadu_ps(x[c] + i));
      for (int p = 0; p < P; ++p) acc[p][c] = _mm512_fmadd_ps(wv[p], xv, acc[p][c]);
    }
  }
  store_row_pairs<P, C>(acc, t);
}

void float_packed_tiles(const GemmTile& t) {
  for_cols<kFCols>(t.nc, [&](auto c) { float_packed_tile<decltype(c)::value>(t); });
}


template <__m256 (*Expand)(const void*, int64_t)>
GemmKernel float_kernel() {
  return GemmKernel{float_packed_tiles, kFRows, kFCols, pair_packed_bytes, pair_pack<Expand>, float_prepared_bytes,
                    expand_prepare<Expand>};
}

}  // namespace

GemmKernel gemm_kernel_ggml_avx512_q4_0x16_packed() {
  return GemmKernel{q4_x16, kX16Rows, kX16Cols, nullptr, nullptr, q4_x16_prepared_bytes, q4_x16_prepare};
}

GemmKernel gemm_kernel_ggml_avx512_q4_kx16_packed() { return GemmKernel{q4_k_x16, kX16Rows, kKCols}; }

GemmKernel gemm_kernel_ggml_avx512_gemm(DType weight) {
  switch (weight) {
    case DType::F32: return float_kernel<f32x8>();
    case DType::F16: return float_kernel<f16x8>();
    case DType::BF16: return float_kernel<bf16x8>();  // not in ggml's order contract; the same tile serves it
    case DType::Q6_K: return GemmKernel{q6_k_tiles, kQ6Rows, kQ6Cols};
    case DType::Q8_0: return GemmKernel{quant_tiles<Q8Weights>, kQRows, kQCols};
    case DType::Q4_0: return GemmKernel{quant_tiles<Q4Weights>, kQRows, kQCols};
    default: return {};
  }
}

}  // namespace db::cpu
#else  // not an AVX-512 VNNI build of this file: no kernels
namespace db::cpu {
GemmKernel gemm_kernel_ggml_avx512_q4_0x16_packed() { return {}; }
GemmKernel gemm_kernel_ggml_avx512_q4_kx16_packed() { return {}; }
GemmKernel gemm_kernel_ggml_avx512_gemm(DType) { return {}; }
}  // namespace db::cpu
#endif
