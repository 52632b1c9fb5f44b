// `quantize_model`: stream a GGUF model through the quantizers. The input stays memory-mapped;
// each output tensor is produced by the writer's fill callback in slabs of rows spread over a
// thread pool, so memory use is one slab of scratch per thread whatever the model size.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "backends/cpu/thread_pool.h"
#include "drawbridge/error.h"
#include "drawbridge/gguf.h"
#include "drawbridge/quantize.h"

namespace db {
namespace {

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION
constexpr int64_t kSlabElements = int64_t(1) << 22;  // rows per progress step: ~4 M elements

// Metadata as llama-quantize writes it: every input key in order, except the split keys, then
// general.quantization_version and general.file_type last (ggml's set moves a key to the end).
void copy_metadata(const gguf::File& in, gguf::Writer& w, uint32_t ftype) {
  for (const gguf::KeyValue& kv : in.metadata()) {
    if (kv.key == "general.quantization_version" || kv.key == "general.file_type" || kv.key == "split.no" ||
        kv.key == "split.count" || kv.key == "split.tensors.count")
      continue;
    w.set(kv.key, kv.value);
  }
  w.set("general.quantization_version", gguf::Value::u32(kQuantizationVersion));
  w.set("general.file_type", gguf::Value::u32(ftype));
}

// Converts rows [r0, r1) of `src` to `to` (dequantize to f32, then quantize).
void convert_rows(const Tensor& src, DType to, char* dst, int64_t r0, int64_t r1, std::vector<float>& scratch) {
  const int64_t n = src.ne[0];
  const DTypeInfo& from = dtype_info(src.dtype);
  const DTypeInfo& into = dtype_info(to);
  const size_t in_row = row_bytes(src.dtype, n), out_row = row_bytes(to, n);
  scratch.resize(size_t(n));
  for (int64_t r = r0; r < r1; ++r) {
    const char* s = static_cast<const char*>(src.data) + size_t(r) * in_row;
    const float* f = reinterpret_cast<const float*>(s);
    if (src.dtype != DType::F32) {
      from.to_float(s, scratch.data(), n);
      f = scratch.data();
    }
    into.from_float(f, dst + size_t(r) * out_row, n);
  }
}

class Quantizer {
 public:
  Quantizer(const QuantizeOptions& o, const std::function<void(const QuantizeProgress&)>& progress)
      : pool_(o.n_threads > 0 ? o.n_threads : int(std::max(1u, std::thread::hardware_concurrency()))),
        scratch_(size_t(pool_.size())),
        progress_(progress) {}

  void start(const std::vector<TensorPlan>& plan, uint64_t bytes_total) {
    plan_ = &plan;
    bytes_total_ = bytes_total;
  }

  // Fills the output bytes of tensor i of the plan from `src`.
  void fill(size_t i, const Tensor& src, void* dst, size_t nbytes) {
    const TensorPlan& p = (*plan_)[i];
    report(i, 0.0);
    const int64_t rows = src.nrows();
    const int64_t slab = std::max<int64_t>(pool_.size(), kSlabElements / std::max<int64_t>(1, src.ne[0]));
    char* out = static_cast<char*>(dst);
    for (int64_t r0 = 0; r0 < rows; r0 += slab) {
      const int64_t r1 = std::min(rows, r0 + slab);
      if (p.to == src.dtype) {
        const size_t row = nbytes / size_t(rows);
        std::memcpy(out + size_t(r0) * row, static_cast<const char*>(src.data) + size_t(r0) * row,
                    size_t(r1 - r0) * row);
      } else {
        pool_.run([&](int ith, int nth) {
          const int64_t per = (r1 - r0 + nth - 1) / nth;
          const int64_t a = r0 + per * ith, b = std::min(r1, a + per);
          if (a < b) convert_rows(src, p.to, out, a, b, scratch_[size_t(ith)]);
        });
      }
      report(i, double(r1) / double(rows), nbytes * size_t(r1) / size_t(rows));
    }
    bytes_done_ += nbytes;
  }

 private:
  void report(size_t i, double done, uint64_t tensor_bytes = 0) {
    if (!progress_) return;
    progress_({i, plan_->size(), &(*plan_)[i], done, bytes_done_ + tensor_bytes, bytes_total_});
  }

  cpu::ThreadPool pool_;
  std::vector<std::vector<float>> scratch_;
  const std::function<void(const QuantizeProgress&)>& progress_;
  const std::vector<TensorPlan>* plan_ = nullptr;
  uint64_t bytes_done_ = 0, bytes_total_ = 0;
};

}  // namespace

QuantizeResult quantize_model(const std::string& input, const std::string& output, const QuantizeOptions& options,
                              const std::function<void(const QuantizeProgress&)>& progress) {
  const auto start = std::chrono::steady_clock::now();
  const auto file = gguf::File::open(input);
  QuantizeResult result;
  result.plan = plan_quantization(*file, options);

  gguf::Writer writer;
  writer.set_alignment(file->alignment());
  copy_metadata(*file, writer, options.type.ftype);

  Quantizer quantizer(options, progress);
  uint64_t bytes_total = 0;
  for (size_t i = 0; i < result.plan.size(); ++i) {
    const TensorPlan& p = result.plan[i];
    const Tensor& src = file->find_tensor(p.name)->tensor;
    Tensor desc = make_tensor(p.name, p.to, src.ne);
    bytes_total += desc.nbytes();
    result.bytes_in += src.nbytes();
    result.n_elements += uint64_t(src.nelements());
    writer.add_tensor(desc, [&quantizer, &src, i](void* dst, size_t n) { quantizer.fill(i, src, dst, n); });
  }
  result.bytes_out = bytes_total;
  quantizer.start(result.plan, bytes_total);
  writer.write(output);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace db
