// Prefill GEMMs: Drawbridge's CPU matmul against oneDNN's (Debian libdnnl-dev) on the
// TinyLlama-1.1B projection shapes with 512 prompt tokens, same thread count, f32 and bf16
// weights (issue 3: "measure oneDNN for the dense BF16/F32 prefill GEMMs and keep what wins").
// Both compute y[m, n] = sum_k w[n, k] * x[m, k] with f32 activations and output; each shape is
// timed REPS times alternating the two engines, and the medians are printed as GFLOP/s.
//
//   cmake -B build -DDRAWBRIDGE_BENCH_ONEDNN=ON && cmake --build build --target onednn_gemm
//   build/onednn_gemm [threads=2] [reps=5]
#include <dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "drawbridge/dtype.h"
#include "drawbridge/graph.h"
#include "drawbridge/tensor.h"

namespace {

struct Shape {
  const char* name;
  int64_t k, n;
};
constexpr int64_t kTokens = 512;
constexpr Shape kShapes[] = {{"attn_q/o 2048x2048", 2048, 2048},
                             {"attn_k/v 2048x256", 2048, 256},
                             {"ffn_gate/up 2048x5632", 2048, 5632},
                             {"ffn_down 5632x2048", 5632, 2048}};

double seconds_of(auto&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Drawbridge: one MatMul node through the CPU backend, as a model's graph runs it.
struct Ours {
  db::cpu::CpuBackend backend;
  db::Tensor w, x;
  explicit Ours(int threads) : backend(threads) {}
  void run(const Shape& s) {
    db::Graph g;
    const int y = g.add(db::Op::MatMul, db::make_tensor("y", db::DType::F32, {s.n, kTokens, 1, 1}),
                        {g.leaf(w), g.leaf(x), -1});
    g.set_output(y);
    backend.compute(g);
  }
};

// oneDNN: a primitive created once per shape (its JIT happens outside the timed region).
struct OneDnn {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::matmul prim;
  dnnl::memory src, wei, dst;
  // oneDNN 2.x (Debian 12) matmul wants src and weights of one type: bf16 runs take activations
  // already in bf16 (Drawbridge converts them inside its timed matmul).
  OneDnn(const Shape& s, dnnl::memory::data_type wt, const void* x, const void* w) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    dnnl::memory::desc src_md({kTokens, s.k}, wt, tag::ab);
    dnnl::memory::desc wei_md({s.k, s.n}, wt, tag::ba);  // w stored [n][k], as in GGUF
    dnnl::memory::desc dst_md({kTokens, s.n}, dt::f32, tag::ab);
    prim = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wei_md, dst_md), eng));
    src = dnnl::memory(src_md, eng, const_cast<void*>(x));
    wei = dnnl::memory(wei_md, eng, const_cast<void*>(w));
    dst = dnnl::memory(dst_md, eng);
  }
  void run() {
    prim.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
    strm.wait();
  }
};

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = db::fp32_to_bf16(v[i]);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  if (threads < 1 || reps < 1) {
    std::fprintf(stderr, "usage: onednn_gemm [threads>=1] [reps>=1]\n");
    return 1;
  }
  omp_set_num_threads(threads);  // oneDNN as packaged by Debian runs on OpenMP
  std::printf("prefill GEMM, %lld tokens, %d threads, median of %d (GFLOP/s)\n\n", (long long)kTokens, threads, reps);
  std::printf("| shape | weights | drawbridge | oneDNN | drawbridge / oneDNN |\n|---|---|---:|---:|---:|\n");
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Ours ours(threads);
  for (const Shape& s : kShapes) {
    std::vector<float> x(size_t(kTokens * s.k)), w(size_t(s.n * s.k));
    for (float& v : x) v = nd(rng);
    for (float& v : w) v = nd(rng) * 0.02f;
    const std::vector<uint16_t> wb = to_bf16(w), xb = to_bf16(x);
    for (const bool bf16 : {false, true}) {
      const db::DType t = bf16 ? db::DType::BF16 : db::DType::F32;
      ours.w = db::make_tensor("w", t, {s.k, s.n, 1, 1});
      ours.w.data = bf16 ? static_cast<void*>(const_cast<uint16_t*>(wb.data())) : static_cast<void*>(w.data());
      ours.x = db::make_tensor("x", db::DType::F32, {s.k, kTokens, 1, 1});
      ours.x.data = x.data();
      std::unique_ptr<OneDnn> dnn;
      try {
        dnn = std::make_unique<OneDnn>(s, bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32,
                                       bf16 ? static_cast<const void*>(xb.data()) : static_cast<const void*>(x.data()),
                                       bf16 ? static_cast<const void*>(wb.data()) : static_cast<const void*>(w.data()));
      } catch (const dnnl::error& e) {  // e.g. bf16 matmul needs AVX-512 in oneDNN 2.x
        std::printf("| %s | %s | | oneDNN has no kernel on this CPU (%s) | |\n", s.name, bf16 ? "bf16" : "f32", e.what());
        std::fflush(stdout);
        continue;
      }
      ours.run(s);  // warm-up: arena growth, page faults, JIT
      dnn->run();
      std::vector<double> t_ours, t_dnn;
      for (int r = 0; r < reps; ++r) {
        t_ours.push_back(seconds_of([&] { ours.run(s); }));
        t_dnn.push_back(seconds_of([&] { dnn->run(); }));
      }
      const double flops = 2.0 * double(kTokens) * double(s.k) * double(s.n);
      const double g_ours = flops / median(t_ours) / 1e9, g_dnn = flops / median(t_dnn) / 1e9;
      std::printf("| %s | %s | %.1f | %.1f | %.2f |\n", s.name, bf16 ? "bf16" : "f32", g_ours, g_dnn, g_ours / g_dnn);
      std::fflush(stdout);
    }
  }
  return 0;
}
