// A fixed set of worker threads that run one job on all threads at once, ggml-style: every
// thread walks the same op list and meets at a barrier after each op. Waiting threads spin
// (with pause) for a bounded time and then sleep on a futex: a decode step crosses hundreds of
// barriers a few microseconds apart, and yielding the core at each one costs a scheduler time
// slice whenever the machine is shared. Idle workers between jobs spin briefly, then sleep.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

namespace db::cpu {

// A non-owning reference to a job callable as job(ith, nth). Unlike std::function it never copies
// the callable (a lambda capturing more than two pointers would be copied to the heap), so running
// a graph allocates nothing; the callable must outlive the run() it is passed to, as a temporary does.
class JobRef {
 public:
  template <typename F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, JobRef> && std::is_invocable_v<F&, int, int>)
  JobRef(F&& job)  // NOLINT(google-explicit-constructor): binds lambdas at the call site
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(job)))),
        call_([](void* o, int ith, int nth) { (*static_cast<std::remove_reference_t<F>*>(o))(ith, nth); }) {}
  void operator()(int ith, int nth) const { call_(object_, ith, nth); }

 private:
  void* object_;
  void (*call_)(void*, int, int);
};

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Runs job(ith, nth) on every thread (the caller is thread 0) and returns when all are done.
  void run(JobRef job);
  // Called by every thread of the running job: returns when all threads have arrived.
  void barrier();

 private:
  void worker(int ith);
  // Returns once `word` differs from `seen`: spins up to spin_ns, then sleeps until notified.
  void await_change(std::atomic<uint32_t>& word, uint32_t seen, int64_t spin_ns);
  // Changes `word` and wakes its sleepers, if any.
  void advance(std::atomic<uint32_t>& word);

  int n_threads_;
  std::vector<std::thread> threads_;
  const JobRef* job_ = nullptr;
  bool stop_ = false;
  alignas(64) std::atomic<uint32_t> job_generation_{0};
  alignas(64) std::atomic<int> pending_{0};          // workers still in the job
  alignas(64) std::atomic<uint32_t> jobs_done_{0};  // advanced by the last worker to finish
  // Barrier state: threads arrive by incrementing count; the last one advances the phase.
  alignas(64) std::atomic<int> barrier_count_{0};
  alignas(64) std::atomic<uint32_t> barrier_phase_{0};
  alignas(64) std::atomic<int> sleepers_{0};  // threads asleep in await_change
};

}  // namespace db::cpu
