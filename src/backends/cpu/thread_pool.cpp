#include "backends/cpu/thread_pool.h"

#include "drawbridge/error.h"

namespace db::cpu {

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads) {
  DB_CHECK(n_threads >= 1 && n_threads <= 1024, "[threads] thread count {} must be in 1..1024", n_threads);
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::run(const std::function<void(int, int)>& job) {
  if (n_threads_ == 1) {
    job(0, 1);
    return;
  }
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    job_ = &job;
    ++job_generation_;
  }
  cv_.notify_all();
  job(0, n_threads_);
  // Wait for the workers to leave the job before it goes out of scope.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins)
    if (spins > 1000) std::this_thread::yield();
}

void ThreadPool::worker(int ith) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int, int)>* job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || job_generation_ != seen; });
      if (stop_) return;
      seen = job_generation_;
      job = job_;
    }
    (*job)(ith, n_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::barrier() {
  if (n_threads_ == 1) return;
  const uint32_t phase = barrier_phase_.load(std::memory_order_acquire);
  if (barrier_count_.fetch_add(1, std::memory_order_acq_rel) == n_threads_ - 1) {
    barrier_count_.store(0, std::memory_order_relaxed);
    barrier_phase_.fetch_add(1, std::memory_order_acq_rel);
    return;
  }
  for (int spins = 0; barrier_phase_.load(std::memory_order_acquire) == phase; ++spins)
    if (spins > 2000) std::this_thread::yield();
}

}  // namespace db::cpu
