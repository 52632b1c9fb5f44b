// Streaming read bandwidth of host memory, measured with the CPU backend's thread pool: the
// yardstick for bench's "% of bandwidth" (measured in the same run as the tokens/s it judges) and
// the host profile's memory curve in `devices --calibrate`.
#pragma once
#include <cstddef>
#include <cstdint>

namespace db::cpu {

class ThreadPool;

// Bytes per second for summing n_words 64-bit words, chunk_bytes at a time, each chunk split over
// the pool's threads (one dispatch per chunk, as one op of a graph); the median of reps passes.
double read_bandwidth(ThreadPool& pool, const uint64_t* words, size_t n_words, size_t chunk_bytes, int reps);

// The same over a fresh buffer of `bytes` (use several times the last-level cache), whole-buffer
// chunks. Allocates and frees the buffer.
double read_bandwidth(int n_threads, size_t bytes, int reps);

}  // namespace db::cpu
