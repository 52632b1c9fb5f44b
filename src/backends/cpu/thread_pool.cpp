#include "backends/cpu/thread_pool.h"

#include <chrono>

#include "drawbridge/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DB_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define DB_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define DB_CPU_RELAX() ((void)0)
#endif

namespace db::cpu {

namespace {

// Spin budgets, about one scheduler time slice: a barrier wait is usually load imbalance within
// one op (microseconds), and the gap between two jobs is the caller's work between graph runs.
// A peer that has not arrived after that was most likely preempted, and sleeping lets it have
// this core back on a machine with as many busy threads as cores.
constexpr int64_t kBarrierSpinNs = 2'000'000;
constexpr int64_t kJobSpinNs = 2'000'000;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads) {
  DB_CHECK(n_threads >= 1 && n_threads <= 1024, "[threads] thread count {} must be in 1..1024", n_threads);
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_ = true;  // published by the generation change below
  advance(job_generation_);
  for (auto& t : threads_) t.join();
}

void ThreadPool::await_change(std::atomic<uint32_t>& word, uint32_t seen, int64_t spin_ns) {
  int64_t deadline = 0;
  for (uint32_t i = 1;; ++i) {
    if (word.load(std::memory_order_acquire) != seen) return;
    DB_CPU_RELAX();
    if (i % 256 != 0) continue;
    const int64_t t = now_ns();
    if (deadline == 0) deadline = t + spin_ns;
    if (t >= deadline) break;
  }
  // Sleep. The seq_cst pair (sleepers_ up, then read word; advance: word up, then read
  // sleepers_) guarantees that the waker sees this sleeper or this sleeper sees the new word.
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  while (word.load(std::memory_order_seq_cst) == seen) word.wait(seen, std::memory_order_seq_cst);
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
}

void ThreadPool::advance(std::atomic<uint32_t>& word) {
  word.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) word.notify_all();
}

void ThreadPool::run(JobRef job) {
  if (n_threads_ == 1) {
    job(0, 1);
    return;
  }
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  const uint32_t done = jobs_done_.load(std::memory_order_relaxed);
  job_ = &job;
  advance(job_generation_);  // publishes job_ and pending_
  job(0, n_threads_);
  // Wait for the workers to leave the job before it goes out of scope.
  if (pending_.load(std::memory_order_acquire) != 0) await_change(jobs_done_, done, kBarrierSpinNs);
}

void ThreadPool::worker(int ith) {
  uint32_t seen = 0;
  for (;;) {
    await_change(job_generation_, seen, kJobSpinNs);
    seen = job_generation_.load(std::memory_order_acquire);
    if (stop_) return;
    (*job_)(ith, n_threads_);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) advance(jobs_done_);
  }
}

void ThreadPool::barrier() {
  if (n_threads_ == 1) return;
  const uint32_t phase = barrier_phase_.load(std::memory_order_acquire);
  if (barrier_count_.fetch_add(1, std::memory_order_acq_rel) == n_threads_ - 1) {
    barrier_count_.store(0, std::memory_order_relaxed);
    advance(barrier_phase_);
    return;
  }
  await_change(barrier_phase_, phase, kBarrierSpinNs);
}

}  // namespace db::cpu
