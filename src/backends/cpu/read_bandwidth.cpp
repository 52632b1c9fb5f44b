#include "backends/cpu/read_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/thread_pool.h"

namespace db::cpu {
namespace {

// Sums n words as one stream, or as four a quarter of the range apart.
uint64_t sum_words(const uint64_t* p, size_t n, Streams streams) {
  if (streams == Streams::One) {
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) a += p[i], b += p[i + 1], c += p[i + 2], d += p[i + 3];
    for (; i < n; ++i) a += p[i];
    return a + b + c + d;
  }
  const size_t q = n / 4;  // four streams
  const uint64_t *p1 = p + q, *p2 = p + 2 * q, *p3 = p + 3 * q;
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i < q; ++i) a += p[i], b += p1[i], c += p2[i], d += p3[i];
  for (size_t i = 4 * q; i < n; ++i) a += p[i];
  return a + b + c + d;
}

}  // namespace

ReadBandwidth read_bandwidth(ThreadPool& pool, const uint64_t* words, size_t n_words, size_t chunk_bytes,
                             Streams streams, int reps) {
  const size_t per_chunk = std::max<size_t>(1, chunk_bytes / 8);
  std::vector<uint64_t> sink(size_t(pool.size()) * 8);  // one cache line per thread
  std::vector<double> seconds;
  for (int r = 0; r < std::max(1, reps); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t off = 0; off < n_words; off += per_chunk) {
      const size_t n = std::min(per_chunk, n_words - off);
      pool.run([&](int ith, int nth) {
        int64_t b, e;
        split_rows(int64_t(n), ith, nth, b, e);
        sink[size_t(ith) * 8] += sum_words(words + off + size_t(b), size_t(e - b), streams);
      });
    }
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  volatile uint64_t keep = sink[0];  // the sums are used, so the reads are not optimized away
  (void)keep;
  std::sort(seconds.begin(), seconds.end());
  const double bytes = double(n_words * 8);
  return {bytes / seconds[seconds.size() / 2], bytes / seconds.front()};
}

ReadBandwidth read_bandwidth(int n_threads, size_t bytes, int reps) {
  std::vector<uint64_t> buf(bytes / 8);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = i;  // touch every page before timing
  ThreadPool pool(n_threads);
  return read_bandwidth(pool, buf.data(), buf.size(), bytes, Streams::Four, reps);
}

}  // namespace db::cpu
