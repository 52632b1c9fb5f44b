// A fixed set of worker threads that run one job on all threads at once, ggml-style: every
// thread walks the same op list and meets at a barrier after each op. Barriers spin briefly and
// then yield, which keeps per-op overhead to a few hundred nanoseconds without burning a core
// when the machine is shared.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace db::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Runs job(ith, nth) on every thread (the caller is thread 0) and returns when all are done.
  void run(const std::function<void(int ith, int nth)>& job);
  // Called by every thread of the running job: returns when all threads have arrived.
  void barrier();

 private:
  void worker(int ith);
  int n_threads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void(int, int)>* job_ = nullptr;
  uint64_t job_generation_ = 0;
  bool stop_ = false;
  std::atomic<int> pending_{0};
  // Barrier state: threads arrive by incrementing count; the last one flips the phase.
  alignas(64) std::atomic<int> barrier_count_{0};
  alignas(64) std::atomic<uint32_t> barrier_phase_{0};
};

}  // namespace db::cpu
