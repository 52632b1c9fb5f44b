// Block layouts and reference codecs of the further ggml block formats: the 32-element Q4_1,
// Q5_0, Q5_1, Q8_1 and IQ4_NL, and the 256-element "K-quant" super-blocks Q2_K..Q6_K and Q8_K.
// Layouts are ggml's byte for byte (ggml-common.h); quantizers produce the bytes ggml's
// importance-free path produces (what llama-quantize writes without an imatrix).
#pragma once
#include <cstdint>

namespace db {

constexpr int QK4_1 = 32;
constexpr int QK5_0 = 32;
constexpr int QK5_1 = 32;
constexpr int QK8_1 = 32;
constexpr int QK4_NL = 32;
constexpr int QK_K = 256;         // elements per K-quant super-block
constexpr int K_SCALE_SIZE = 12;  // packed 6-bit scales and mins of Q4_K/Q5_K

// Nibble order of every 32-block: low nibble of qs[j] is element j, high nibble element j+16.
struct BlockQ4_1 {
  uint16_t d;  // fp16 scale
  uint16_t m;  // fp16 minimum: x = q*d + m
  uint8_t qs[QK4_1 / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

struct BlockQ5_0 {
  uint16_t d;     // fp16 scale: x = (q - 16)*d
  uint8_t qh[4];  // bit j = 5th bit of element j (little-endian u32)
  uint8_t qs[QK5_0 / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

struct BlockQ5_1 {
  uint16_t d, m;  // x = q*d + m
  uint8_t qh[4];
  uint8_t qs[QK5_1 / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

// Activation format of the dot products with Q4_1/Q5_1: s carries d*sum(qs) for the min term.
struct BlockQ8_1 {
  uint16_t d, s;
  int8_t qs[QK8_1];
};
static_assert(sizeof(BlockQ8_1) == 36);

// Q2_K: 16 sub-blocks of 16; scales[j] = 4-bit scale | 4-bit min << 4; x = d*sc*q - dmin*m.
struct BlockQ2_K {
  uint8_t scales[QK_K / 16];
  uint8_t qs[QK_K / 4];  // 2-bit quants, 4 per byte (element groups 32 apart)
  uint16_t d, dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

// Q3_K: 16 sub-blocks of 16 with signed 6-bit scales packed in 12 bytes; x = d*(sc-32)*(q-4).
struct BlockQ3_K {
  uint8_t hmask[QK_K / 8];  // third bit of each quant
  uint8_t qs[QK_K / 4];     // low two bits
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

// Q4_K: 8 sub-blocks of 32 with 6-bit scales and mins; x = d*sc*q - dmin*m.
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qs[QK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qh[QK_K / 8];  // fifth bit
  uint8_t qs[QK_K / 2];  // low four bits
};
static_assert(sizeof(BlockQ5_K) == 176);

// Q6_K: 16 sub-blocks of 16 with signed 8-bit scales; x = d*sc*(q-32).
struct BlockQ6_K {
  uint8_t ql[QK_K / 2];
  uint8_t qh[QK_K / 4];
  int8_t scales[QK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// Activation format of the K-quant dot products: f32 scale, and per-16 sums of the quants so that
// the min terms of Q2_K/Q4_K/Q5_K cost one multiply per sub-block.
struct BlockQ8_K {
  float d;
  int8_t qs[QK_K];
  int16_t bsums[QK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

// IQ4_NL: 4-bit indices into a fixed non-linear table; x = d*kIQ4NLValues[q].
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[QK4_NL / 2];
};
static_assert(sizeof(BlockIQ4_NL) == 18);

extern const int8_t kIQ4NLValues[16];

// Decodes the 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block.
inline void k4_scale_min(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Decodes the 16 signed 6-bit scales (already minus 32) of a Q3_K block.
void q3_k_scales(const uint8_t packed[12], int8_t out[16]);

// n is a multiple of the block size in every function below.
void quantize_q4_1(const float* src, void* dst, int64_t n);
void dequantize_q4_1(const void* src, float* dst, int64_t n);
void quantize_q5_0(const float* src, void* dst, int64_t n);
void dequantize_q5_0(const void* src, float* dst, int64_t n);
void quantize_q5_1(const float* src, void* dst, int64_t n);
void dequantize_q5_1(const void* src, float* dst, int64_t n);
void quantize_q8_1(const float* src, void* dst, int64_t n);
void dequantize_q8_1(const void* src, float* dst, int64_t n);
// IQ4_NL as llama-quantize writes it (ggml's quantize_iq4_nl without weights: a scale search of
// +-7 steps). ggml's quantize_row_iq4_nl_ref skips the search and is not what files contain.
void quantize_iq4_nl(const float* src, void* dst, int64_t n);
void dequantize_iq4_nl(const void* src, float* dst, int64_t n);

void quantize_q2_k(const float* src, void* dst, int64_t n);
void dequantize_q2_k(const void* src, float* dst, int64_t n);
void quantize_q3_k(const float* src, void* dst, int64_t n);
void dequantize_q3_k(const void* src, float* dst, int64_t n);
void quantize_q4_k(const float* src, void* dst, int64_t n);
void dequantize_q4_k(const void* src, float* dst, int64_t n);
void quantize_q5_k(const float* src, void* dst, int64_t n);
void dequantize_q5_k(const void* src, float* dst, int64_t n);
void quantize_q6_k(const float* src, void* dst, int64_t n);
void dequantize_q6_k(const void* src, float* dst, int64_t n);
void quantize_q8_k(const float* src, void* dst, int64_t n);
void dequantize_q8_k(const void* src, float* dst, int64_t n);

}  // namespace db
