// The token loop allocates nothing: after a warm-up step, Session::eval of one token on the CPU
// makes no heap allocation (operator new, and malloc-family calls from Drawbridge's own code), and
// its logits are bit for bit those of the old way, a graph built and planned afresh every step.
//
// This binary replaces the global operator new/delete with counting versions (forwarding to
// malloc/free), so it is its own test executable. CMake links it with -Wl,--wrap for malloc,
// calloc, realloc, aligned_alloc and posix_memalign, which routes those calls from the static
// Drawbridge libraries (the CPU arena, kernel scratch) through the counters below as well.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>

#include "drawbridge/builder.h"
#include "drawbridge/device.h"
#include "drawbridge/session.h"
#include "drawbridge/quantize.h"
#include "drawbridge/synth.h"
#include "test_util.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

void count() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

#ifdef DRAWBRIDGE_WRAP_MALLOC
extern "C" {
void* __real_malloc(size_t);
void* __real_calloc(size_t, size_t);
void* __real_realloc(void*, size_t);
void* __real_aligned_alloc(size_t, size_t);
int __real_posix_memalign(void**, size_t, size_t);
void* __wrap_malloc(size_t n) {
  count();
  return __real_malloc(n);
}
void* __wrap_calloc(size_t n, size_t size) {
  count();
  return __real_calloc(n, size);
}
void* __wrap_realloc(void* p, size_t n) {
  count();
  return __real_realloc(p, n);
}
void* __wrap_aligned_alloc(size_t align, size_t n) {
  count();
  return __real_aligned_alloc(align, n);
}
int __wrap_posix_memalign(void** p, size_t align, size_t n) {
  count();
  return __real_posix_memalign(p, align, n);
}
}
#define DB_RAW_MALLOC __real_malloc
#define DB_RAW_ALIGNED_ALLOC __real_aligned_alloc
#else
#define DB_RAW_MALLOC std::malloc
#define DB_RAW_ALIGNED_ALLOC std::aligned_alloc
#endif

namespace {

void* counted_new(size_t n, bool nothrow) {
  count();
  void* p = DB_RAW_MALLOC(n ? n : 1);
  if (!p && !nothrow) throw std::bad_alloc();
  return p;
}

void* counted_new_aligned(size_t n, std::align_val_t al, bool nothrow) {
  count();
  const size_t a = std::max(size_t(al), sizeof(void*));
  void* p = DB_RAW_ALIGNED_ALLOC(a, (std::max<size_t>(n, 1) + a - 1) / a * a);
  if (!p && !nothrow) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(size_t n) { return counted_new(n, false); }
void* operator new[](size_t n) { return counted_new(n, false); }
void* operator new(size_t n, const std::nothrow_t&) noexcept { return counted_new(n, true); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return counted_new(n, true); }
void* operator new(size_t n, std::align_val_t a) { return counted_new_aligned(n, a, false); }
void* operator new[](size_t n, std::align_val_t a) { return counted_new_aligned(n, a, false); }
void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return counted_new_aligned(n, a, true); }
void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_new_aligned(n, a, true);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace db {
namespace {

// Allocations made by the calls in between, on every thread.
class AllocationCounter {
 public:
  AllocationCounter() {
    g_allocations.store(0);
    g_counting.store(true);
  }
  long stop() {
    g_counting.store(false);
    return g_allocations.load();
  }
  ~AllocationCounter() { g_counting.store(false); }
};

std::vector<int>* volatile g_vector_sink;  // volatile: the compiler may not drop the allocations
void* volatile g_block_sink;

TEST(TokenLoopAlloc, CounterSeesAllocations) {  // the instrument works (else 0 would prove nothing)
  AllocationCounter counter;
  g_vector_sink = new std::vector<int>(100);
  g_block_sink = std::aligned_alloc(64, 4096);  // the call the CPU arena makes
  const long n = counter.stop();
  delete g_vector_sink;
  std::free(g_block_sink);
#ifdef DRAWBRIDGE_WRAP_MALLOC
  EXPECT_EQ(n, 3);
#else
  EXPECT_GE(n, 2);
#endif
}

// The reference: Session::eval as it was, a graph built, planned and run on a new device every call.
class RebuildEveryStep {
 public:
  RebuildEveryStep(const Model& model, int n_threads, int n_ctx)
      : model_(model),
        n_threads_(n_threads),
        cache_(model.config(), n_ctx, DType::F16, Buffer::host(KvCache::bytes_needed(model.config(), n_ctx, DType::F16))) {}
  std::vector<float> eval(const std::vector<Token>& tokens) {
    const int n = int(tokens.size());
    ForwardGraph fg = build_forward(model_, cache_, n, n_past_, /*last_logits_only=*/true);
    std::vector<int32_t> ids(tokens.begin(), tokens.end()), pos(tokens.size());
    for (int i = 0; i < n; ++i) pos[size_t(i)] = n_past_ + i;
    fg.graph.node(fg.tokens).out.data = ids.data();
    fg.graph.node(fg.positions).out.data = pos.data();
    std::unique_ptr<Device> device = Registry::global().create("cpu", DeviceOptions{n_threads_});
    device->compute(fg.graph);
    const auto* logits = static_cast<const float*>(fg.graph.node(fg.logits).out.data);
    n_past_ += n;
    return std::vector<float>(logits, logits + model_.config().n_vocab);
  }

 private:
  const Model& model_;
  int n_threads_;
  KvCache cache_;
  int n_past_ = 0;
};

bool same_bits(const float* a, const std::vector<float>& b) { return std::memcmp(a, b.data(), b.size() * sizeof(float)) == 0; }

Token argmax(const float* logits, int n) {
  Token best = 0;
  for (int i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

// A prompt of n_prompt tokens, one warm-up step, then `steps` greedy steps counted for
// allocations; every step's logits are compared with the reference's afterwards. With a context of
// 512 and a prompt past 230, the steps cross 256 cached tokens, where single-token attention
// switches to its split-KV form (ops_attention.cpp): that switch must not allocate either.
void expect_allocation_free_decode(const Model& model, int n_threads, const std::string& label) {
  SCOPED_TRACE(label + ", " + std::to_string(n_threads) + " threads");
  constexpr int kCtx = 512, kPrompt = 240, kSteps = 32;
  const int n_vocab = model.config().n_vocab;
  SessionOptions so;
  so.n_threads = n_threads;
  so.n_ctx = kCtx;
  Session session(model, so);
  RebuildEveryStep reference(model, n_threads, kCtx);

  std::vector<Token> prompt(kPrompt);
  for (int i = 0; i < kPrompt; ++i) prompt[size_t(i)] = Token((i * 7 + 3) % n_vocab);
  ASSERT_TRUE(same_bits(session.eval(prompt), reference.eval(prompt)));
  Token next = 1;
  ASSERT_TRUE(same_bits(session.eval(std::span<const Token>(&next, 1)), reference.eval({next})));  // warm-up

  std::vector<Token> tokens(kSteps);
  std::vector<std::vector<float>> logits(kSteps, std::vector<float>(size_t(n_vocab)));
  AllocationCounter counter;
  for (int s = 0; s < kSteps; ++s) {
    next = Token((next * 31 + 11) % n_vocab);  // not only greedy: a repetitive argmax is a weak check
    tokens[size_t(s)] = next;
    const float* l = session.eval(std::span<const Token>(&tokens[size_t(s)], 1));
    std::memcpy(logits[size_t(s)].data(), l, size_t(n_vocab) * sizeof(float));
    next = Token((argmax(l, n_vocab) + next) % n_vocab);
  }
  EXPECT_EQ(counter.stop(), 0) << "heap allocations in " << kSteps << " decode steps";
  EXPECT_EQ(session.n_past(), kPrompt + 1 + kSteps);
  for (int s = 0; s < kSteps; ++s) {
    const std::vector<float> want = reference.eval({tokens[size_t(s)]});
    ASSERT_TRUE(same_bits(logits[size_t(s)].data(), want)) << "step " << s << " differs from a freshly built graph";
  }
}

SynthOptions small(Arch arch, DType type) {
  SynthOptions o;
  o.arch = arch;
  o.n_layer = 2;
  o.n_embd = 64;
  o.n_ff = 96;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_vocab = 300;
  o.n_ctx = 1024;
  o.weight_type = type;
  return o;
}

TEST(TokenLoopAlloc, SynthLlamaF16DecodesWithoutAllocating) {
  register_builtin_devices();
  const auto path = (test::temp_dir() / "llama.gguf").string();
  synth_model(small(Arch::Llama, DType::F16), path);
  auto model = Model::load(path);
  for (int threads : {1, 2}) expect_allocation_free_decode(*model, threads, "synth llama f16");
}

TEST(TokenLoopAlloc, SynthQwen2Q8DecodesWithoutAllocating) {
  register_builtin_devices();
  const auto path = (test::temp_dir() / "qwen2.gguf").string();
  synth_model(small(Arch::Qwen2, DType::Q8_0), path);
  auto model = Model::load(path);
  for (int threads : {1, 2}) expect_allocation_free_decode(*model, threads, "synth qwen2 q8_0");
}

// q4_0 and q4_K weights are packed at load (weight_pack.h): the packed kernels allocate nothing
// either, and give the bits of the unpacked reference.
TEST(TokenLoopAlloc, SynthPackedQ4WeightsDecodeWithoutAllocating) {
  register_builtin_devices();
  const auto path = (test::temp_dir() / "llama-q4.gguf").string();
  synth_model(small(Arch::Llama, DType::Q4_0), path);
  auto model = Model::load(path);
  for (int threads : {1, 2}) expect_allocation_free_decode(*model, threads, "synth llama q4_0");
  SynthOptions wide = small(Arch::Qwen2, DType::F16);  // q4_K rows need widths of 256
  wide.n_embd = 256;
  wide.n_ff = 512;
  const auto f16 = (test::temp_dir() / "qwen2-f16.gguf").string(), kpath = (test::temp_dir() / "qwen2-q4k.gguf").string();
  synth_model(wide, f16);
  QuantizeOptions qo;
  qo.type = *quant_type_from_name("Q4_K_M");
  quantize_model(f16, kpath, qo);
  auto kmodel = Model::load(kpath);
  for (int threads : {1, 2}) expect_allocation_free_decode(*kmodel, threads, "synth qwen2 q4_K");
}

TEST(TokenLoopAlloc, Stories260KDecodesWithoutAllocating) {
  const auto path = test::shared_file("models/stories260K.gguf");
  REQUIRE_SHARED(path);
  register_builtin_devices();
  auto model = Model::load(path.string());
  for (int threads : {1, 2}) expect_allocation_free_decode(*model, threads, "stories260K");
}

}  // namespace
}  // namespace db
