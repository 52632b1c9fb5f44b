// Runtime kernel dispatch: detect the CPU once, then hand out the best kernel table it can run.
// Order of preference: AVX-512, AVX2+FMA+F16C, portable reference (DRAWBRIDGE_CPU_ISA caps it).
// f32/f16/q8_0/q4_0 weights always get kernels in ggml's summation order (vec_dot.h): the AVX2
// ones of ggml_avx2.cpp, on AVX-512 VNNI machines the wider tiles of ggml_avx512.cpp that give the
// same bits, or the portable reference; likewise the row kernels of SiLU and attention.
#include <cstdlib>
#include <cstring>

#include "backends/cpu/row_kernels.h"
#include "backends/cpu/simd.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace db::cpu {

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
#if defined(__x86_64__) || defined(__i386__)
    // __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512 register state.
    __builtin_cpu_init();
    unsigned a = 0, b = 0, cx = 0, d = 0;
    const bool f16c = __get_cpuid(1, &a, &b, &cx, &d) && (cx & bit_F16C);
    c.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    c.avx512 = c.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    c.avx512_vnni = c.avx512 && __builtin_cpu_supports("avx512vnni");
    c.avx512_bf16 = c.avx512 && __builtin_cpu_supports("avx512bf16");
#endif
#if defined(__aarch64__) && defined(__linux__)
    c.neon_dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
    return c;
  }();
  return f;
}

namespace {

enum class Isa { Ref, Neon, Avx2, Avx512 };  // Neon < Avx2: x86 tests (isa >= Avx2) exclude it

// The best family the CPU runs; DRAWBRIDGE_CPU_ISA=avx2 or =ref caps the choice (tests run the
// AVX2 kernels on AVX-512 machines that way, and users can compare).
Isa pick_isa() {
  const CpuFeatures& f = cpu_features();
  const char* env = std::getenv("DRAWBRIDGE_CPU_ISA");
  const bool cap_avx2 = env && std::strcmp(env, "avx2") == 0;
  if (env && std::strcmp(env, "ref") == 0) return Isa::Ref;
  if (!cap_avx2 && f.avx512) return Isa::Avx512;
  if (f.neon_dotprod) return Isa::Neon;
  return f.avx2 ? Isa::Avx2 : Isa::Ref;
}

Isa active_isa() {
  static const Isa isa = pick_isa();
  return isa;
}

// ---- portable attention helpers ----------------------------------------------------------------
void mad_f32_f32_ref(int64_t n, void* accv, float ms, float vs, const void* vv) {
  auto* acc = static_cast<float*>(accv);
  auto* v = static_cast<const float*>(vv);
  for (int64_t i = 0; i < n; ++i) acc[i] = acc[i] * ms + v[i] * vs;
}

void mad_f16_f16_ref(int64_t n, void* accv, float ms, float vs, const void* vv) {
  auto* acc = static_cast<uint16_t*>(accv);
  auto* v = static_cast<const uint16_t*>(vv);
  for (int64_t i = 0; i < n; ++i) acc[i] = fp32_to_fp16(fp16_to_fp32(acc[i]) * ms + fp16_to_fp32(v[i]) * vs);
}

}  // namespace

bool avx512_vnni_active() { return active_isa() == Isa::Avx512 && cpu_features().avx512_vnni; }

const char* cpu_isa_name() {
  switch (active_isa()) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    case Isa::Neon: return "neon";
    default: return "ref";
  }
}

// The further block formats: one dot product per output in ggml's order (no tiles yet).
static bool is_further_block_format(DType weight) {
  switch (weight) {
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
    case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::IQ4_NL: return true;
    default: return false;
  }
}

// Weight types whose kernels must follow ggml's summation order (vec_dot.h).
static bool ggml_order(DType weight) {
  return weight == DType::F32 || weight == DType::F16 || weight == DType::Q8_0 || weight == DType::Q4_0 ||
         is_further_block_format(weight);
}

const DotTraits* dot_traits(DType weight) {
  const Isa isa = active_isa();
  // ARM64: ggml's AVX2 order is an x86 contract (vec_dot.h); NEON kernels match the reference
  // within tolerance.
  if (isa == Isa::Neon)
    if (const DotTraits* t = dot_traits_neon(weight)) return t;
  if (ggml_order(weight)) {
    if (isa >= Isa::Avx2)
      if (const DotTraits* t = dot_traits_ggml_avx2(weight)) return t;
    return dot_traits_ref(weight);
  }
  if (isa == Isa::Avx512)
    if (const DotTraits* t = dot_traits_avx512(weight)) return t;
  if (isa >= Isa::Avx2)
    if (const DotTraits* t = dot_traits_avx2(weight)) return t;
  return dot_traits_ref(weight);
}

// The wide float tiles expand activations once per tile; below this batch the AVX2 dot-form
// tiles (no expansion) are as fast.
constexpr int64_t kWideFloatMinRows = 8;

GemmKernel gemm_kernel(DType weight, int64_t k, int64_t n, int64_t m) {
  if (is_further_block_format(weight)) {
    // One dot product per output in ggml's order, except q4_K weights that ggml repacks
    // (N % 8 == 0): the 8-row tile of that order, decode included.
    const DotTraits& t = *dot_traits_ref(weight);
    if (weight == DType::Q4_K && select_vec_dot(t, k, n, m) == t.vec_dot_x8 && active_isa() >= Isa::Avx2)
      return gemm_kernel_ggml_avx2_q4_k_x8();
    // q6_K (vec_dot order at every batch): the AVX-512 tile shares each row's decode.
    if (weight == DType::Q6_K && m >= 2 && avx512_vnni_active())
      return gemm_kernel_ggml_avx512_gemm(weight);
    return {};
  }
  if (ggml_order(weight)) {
    // The tiles that keep ggml's order: f32/f16 in tinyBLAS's shapes (one 8-lane accumulator per
    // output), q8_0 and q4_0 in their 8-lane dot form (not the packed ones), and for q4_0 weights
    // that ggml repacks (N % 8 == 0) the 8-row tile of its repacked order, decode included.
    const DotTraits& t = *dot_traits_ref(weight);
    const VecDotFn want = select_vec_dot(t, k, n, m);
    if (want == t.vec_dot_x8) return active_isa() >= Isa::Avx2 ? gemm_kernel_ggml_avx2_q4_x8() : GemmKernel{};
    const bool quant = weight == DType::Q8_0 || weight == DType::Q4_0;
    const bool tiles_ok = m >= 2 && (want == t.vec_dot_gemm || (quant && want == t.vec_dot));
    if (!tiles_ok || active_isa() < Isa::Avx2) return {};
    if (avx512_vnni_active() && (quant || m >= kWideFloatMinRows))
      if (GemmKernel k = gemm_kernel_ggml_avx512_gemm(weight); k.tile) return k;
    return gemm_kernel_avx2_ggml_order(weight, m);
  }
  const Isa isa = active_isa();
  if (isa == Isa::Avx512 && weight == DType::BF16 && m >= kWideFloatMinRows && k % 8 == 0)
    if (GemmKernel g = gemm_kernel_ggml_avx512_gemm(weight); g.tile) return g;
  if (isa == Isa::Avx512)
    if (GemmKernel g = gemm_kernel_avx512(weight, m); g.tile) return g;
  if (isa >= Isa::Avx2) return gemm_kernel_avx2(weight, m);
  return {};
}

const RowKernels& row_kernels() {
  return active_isa() >= Isa::Avx2 ? row_kernels_ggml_avx2() : row_kernels_ref();
}

const AttentionKernels& attention_kernels_ref() {
  static constexpr AttentionKernels k{mad_f32_f32_ref, mad_f16_f16_ref};
  return k;
}

const AttentionKernels& attention_kernels() {
  return active_isa() >= Isa::Avx2 ? attention_kernels_avx2() : attention_kernels_ref();
}

}  // namespace db::cpu
