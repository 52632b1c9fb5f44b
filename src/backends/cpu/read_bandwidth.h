// Streaming read bandwidth of host memory, measured with the CPU backend's thread pool: the
// yardstick for bench's "% of bandwidth" (measured in the same run as the tokens/s it judges) and
// the host profile's memory curve in `devices --calibrate`.
#pragma once
#include <cstddef>
#include <cstdint>

namespace db::cpu {

class ThreadPool;

// How each thread reads its part: one sequential stream (one op streaming one buffer), or four
// streams a quarter apart (a matmul band reading several rows; what gets near the DRAM limit).
enum class Streams { One, Four };

struct ReadBandwidth {
  double median;  // bytes per second, median pass
  double best;    // fastest pass: what the memory can give when the other tenants let it
};

// Reads n_words 64-bit words, chunk_bytes at a time, each chunk split over the pool's threads (one
// dispatch per chunk, as one op of a graph), each thread's part read as `streams`; reps passes.
ReadBandwidth read_bandwidth(ThreadPool& pool, const uint64_t* words, size_t n_words, size_t chunk_bytes,
                             Streams streams, int reps);

// Decode's yardstick: a fresh buffer of `bytes` (use several times the last-level cache) read in
// one chunk as 4 streams per thread. Allocates and frees the buffer.
ReadBandwidth read_bandwidth(int n_threads, size_t bytes, int reps);

}  // namespace db::cpu
