// Synthetic GGUF models with random weights. Values come from a counter-style scheme: every row
// of every tensor has its own generator seeded from (seed, tensor name, row index), so any number
// of threads can fill rows in any order and the file comes out byte-identical.
#include "drawbridge/synth.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "drawbridge/error.h"
#include "drawbridge/gguf.h"

namespace db {
namespace {

constexpr float kWeightStd = 0.02f;

uint64_t mix64(uint64_t z) {  // splitmix64 finalizer: a bijection with good avalanche
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (char c : s) h = (h ^ uint8_t(c)) * 0x100000001B3ull;
  return h;
}

// xoshiro256++ (Blackman & Vigna): fast, and every output bit is usable.
class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t seed) {
    for (auto& s : s_) s = mix64(seed += 0x9E3779B97F4A7C15ull);
  }
  uint64_t operator()() {
    const uint64_t result = rotl(s_[0] + s_[3], 23) + s_[0];
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform_open() { return (double((*this)() >> 11) + 0.5) * 0x1.0p-53; }  // in (0, 1)

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// Standard normal samples by the ziggurat method (Marsaglia & Tsang, 256 layers). A 64-bit draw
// yields two samples, and ~99% of samples cost one table lookup, a multiply and a compare; the
// distribution is exact (tails included) up to the 23-bit resolution of the position.
class Ziggurat {
 public:
  Ziggurat() {
    constexpr double r = 3.6541528853610088, v = 0.00492867323399;  // tail start, layer area
    double x[kLayers + 1];
    x[0] = v / f(r);  // the base layer: rectangle below f(r) plus the tail, as one pseudo-width
    x[1] = r;
    for (int k = 1; k < kLayers - 1; ++k) x[k + 1] = std::sqrt(-2.0 * std::log(f(x[k]) + v / x[k]));
    x[kLayers] = 0.0;
    for (int k = 0; k <= kLayers; ++k) {
      x_[k] = float(x[k]);
      step_[k] = float(x[k] * 0x1.0p-23);
      fx_[k] = float(f(x[k]));
    }
  }

  // n samples of N(0, stddev²).
  void fill(Xoshiro256& rng, float* out, int64_t n, float stddev) const {
    for (int64_t i = 0; i < n; i += 2) {
      const uint64_t u = rng();
      out[i] = sample(uint32_t(u), rng) * stddev;
      if (i + 1 < n) out[i + 1] = sample(uint32_t(u >> 32), rng) * stddev;
    }
  }

 private:
  static constexpr int kLayers = 256;
  static double f(double x) { return std::exp(-0.5 * x * x); }

  // bits 0-7: layer, bit 8: sign, bits 9-31: position within the layer.
  float sample(uint32_t u, Xoshiro256& rng) const {
    const int k = int(u & 0xFF);
    float z = float(u >> 9) * step_[k];
    if (z >= x_[k + 1]) z = slow_path(k, z, rng);  // not wholly under the curve
    return (u & 0x100) ? -z : z;
  }

  // The magnitude for a draw that landed in the tail or a wedge; redraws on rejection (the sign
  // is independent of the magnitude, so the caller's sign bit still applies).
  float slow_path(int k, float z, Xoshiro256& rng) const {
    for (;;) {
      if (k == 0) return tail(rng);
      const double y = fx_[k] + rng.uniform_open() * (double(fx_[k + 1]) - fx_[k]);
      if (y < f(z)) return z;
      const uint32_t u = uint32_t(rng());
      k = int(u & 0xFF);
      z = float(u >> 9) * step_[k];
      if (z < x_[k + 1]) return z;
    }
  }

  float tail(Xoshiro256& rng) const {  // Marsaglia's method for x > r
    const double r = x_[1];
    for (;;) {
      const double a = -std::log(rng.uniform_open()) / r;
      const double b = -std::log(rng.uniform_open());
      if (b + b >= a * a) return float(r + a);
    }
  }

  float x_[kLayers + 1];     // layer right edges (x_[0]: pseudo-width of the base layer)
  float step_[kLayers + 1];  // x_[k] / 2^23: position bits to abscissa
  float fx_[kLayers + 1];    // f(x_[k])
};

const Ziggurat& ziggurat() {
  static const Ziggurat z;
  return z;
}

enum class Init { Normal, Ones };

// Fills rows [begin, end) of tensor `t` (contiguous, at dst) with its initial values.
void fill_rows(const Tensor& t, Init init, uint64_t tensor_key, int64_t begin, int64_t end, void* dst) {
  const int64_t n = t.ne[0];
  const size_t row_size = t.nb[1];
  const DTypeInfo& info = dtype_info(t.dtype);
  std::vector<float> staging(t.dtype == DType::F32 ? 0 : size_t(n));
  const Ziggurat& zig = ziggurat();
  for (int64_t row = begin; row < end; ++row) {
    char* out = static_cast<char*>(dst) + size_t(row) * row_size;
    float* values = t.dtype == DType::F32 ? reinterpret_cast<float*>(out) : staging.data();
    if (init == Init::Ones) {
      std::fill(values, values + n, 1.0f);
    } else {
      Xoshiro256 rng(mix64(tensor_key + uint64_t(row)));
      zig.fill(rng, values, n, kWeightStd);
    }
    if (t.dtype != DType::F32) info.from_float(values, out, n);
  }
}

// Splits the rows into contiguous ranges, one per thread; small tensors stay on this thread.
void fill_tensor(const Tensor& t, Init init, uint64_t tensor_key, int n_threads, void* dst) {
  const int64_t rows = t.nrows();
  const int64_t min_elements_per_thread = int64_t(1) << 16;
  const int64_t useful = std::max<int64_t>(1, t.nelements() / min_elements_per_thread);
  const int threads = int(std::min<int64_t>({int64_t(n_threads), rows, useful}));
  if (threads <= 1) return fill_rows(t, init, tensor_key, 0, rows, dst);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    const int64_t begin = rows * i / threads, end = rows * (i + 1) / threads;
    pool.emplace_back([&, begin, end] { fill_rows(t, init, tensor_key, begin, end, dst); });
  }
  for (auto& th : pool) th.join();
}

Init init_for(const std::string& name) {
  const bool is_norm = name.find("_norm.") != std::string::npos;
  return is_norm ? Init::Ones : Init::Normal;
}

// llama.cpp's general.file_type (enum llama_ftype) for a model whose matrices are all of type t.
uint32_t file_type_of(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
    default: fail("[synth] no file type for {}", dtype_name(t));
  }
}

void check_weight_type(const ModelConfig& c, DType t) {
  const DTypeInfo& info = dtype_info(t);
  DB_CHECK(t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::Q8_0 || t == DType::Q4_0,
           "[synth] weight type {} is not supported (use f32, f16, bf16, q8_0 or q4_0)", info.name);
  for (const TensorSpec& spec : tensor_specs(c)) {
    if (!spec.is_matrix) continue;
    DB_CHECK(spec.ne[0] % info.block_size == 0,
             "[synth] tensor '{}' has rows of {} elements, not a multiple of the {} block size {}",
             spec.name, spec.ne[0], info.name, info.block_size);
  }
}

int resolve_vocab_size(const SynthOptions& o) {
  if (o.vocab) {
    const int n = int(o.vocab->tokens.size());
    DB_CHECK(o.n_vocab == 0 || o.n_vocab == n,
             "[synth] n_vocab {} does not match the {} tokens of the given vocabulary", o.n_vocab, n);
    return n;
  }
  DB_CHECK(o.n_vocab >= kMinSynthVocab,
           "[synth] n_vocab {} is too small: the synthetic vocabulary needs at least {} tokens "
           "(3 control + 256 byte tokens)", o.n_vocab, kMinSynthVocab);
  return o.n_vocab;
}

}  // namespace

ModelConfig synth_config(const SynthOptions& o) {
  auto positive = [](const char* what, int v) {
    DB_CHECK(v > 0, "[synth] {} must be positive (got {})", what, v);
  };
  positive("n_layer", o.n_layer);
  positive("n_embd", o.n_embd);
  positive("n_ff", o.n_ff);
  positive("n_head", o.n_head);
  positive("n_head_kv", o.n_head_kv);
  positive("n_ctx", o.n_ctx);
  DB_CHECK(o.n_embd % o.n_head == 0, "[synth] n_embd {} is not a multiple of n_head {}", o.n_embd,
           o.n_head);
  DB_CHECK(o.n_head_kv <= o.n_head && o.n_head % o.n_head_kv == 0,
           "[synth] n_head {} is not a multiple of n_head_kv {}", o.n_head, o.n_head_kv);
  DB_CHECK((o.n_embd / o.n_head) % 2 == 0, "[synth] head size {} (n_embd / n_head) must be even for RoPE",
           o.n_embd / o.n_head);
  ModelConfig c;
  c.arch = o.arch;
  c.n_layer = o.n_layer;
  c.n_embd = o.n_embd;
  c.n_ff = o.n_ff;
  c.n_head = o.n_head;
  c.n_head_kv = o.n_head_kv;
  c.head_dim = o.n_embd / o.n_head;
  c.n_rot = c.head_dim;
  c.n_vocab = resolve_vocab_size(o);
  c.n_ctx_train = o.n_ctx;
  c.rope_freq_base = o.rope_base.value_or(o.arch == Arch::Qwen2 ? 1000000.0f : 10000.0f);
  c.norm_eps = o.arch == Arch::Qwen2 ? 1e-6f : 1e-5f;
  c.has_qkv_bias = o.arch == Arch::Qwen2;
  c.rope_type = o.arch == Arch::Qwen2 ? RopeType::Neox : RopeType::Normal;
  try {
    c.validate();
  } catch (const Error& e) {
    fail("[synth] {}", e.what());
  }
  check_weight_type(c, o.weight_type);
  return c;
}

void synth_model(const SynthOptions& o, const std::string& path) {
  const ModelConfig c = synth_config(o);
  const Vocab vocab = o.vocab ? *o.vocab : synth_vocab(c.n_vocab);
  const int n_threads = o.n_threads > 0 ? o.n_threads : int(std::max(1u, std::thread::hardware_concurrency()));

  gguf::Writer w;
  write_config(w, c, o.name.empty() ? fmt::format("synth-{}", arch_name(c.arch)) : o.name);
  w.set("general.file_type", gguf::Value::u32(file_type_of(o.weight_type)));
  if (dtype_info(o.weight_type).quantized) w.set("general.quantization_version", gguf::Value::u32(2));
  write_vocab(w, vocab);

  const uint64_t seed_key = mix64(o.seed);
  for (const TensorSpec& spec : tensor_specs(c)) {
    if (spec.name == "rope_freqs.weight") continue;  // only for Llama-3 style rope scaling
    const Tensor desc = make_tensor(spec.name, spec.is_matrix ? o.weight_type : DType::F32, spec.ne);
    const uint64_t tensor_key = mix64(seed_key ^ fnv1a(spec.name));
    const Init init = init_for(spec.name);
    w.add_tensor(desc, [desc, init, tensor_key, n_threads](void* dst, size_t) {
      fill_tensor(desc, init, tensor_key, n_threads, dst);
    });
  }
  w.write(path);
}

}  // namespace db
