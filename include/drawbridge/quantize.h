// Model quantization, as llama.cpp's llama-quantize does it without an importance matrix: the same
// type names, the same per-tensor type choices for each named mix (attn_v and ffn_down get more
// bits in some layers, output.weight gets Q6_K, rows that do not fit a 256-block fall back), the
// same quantized bytes, the same metadata and tensor order.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drawbridge/dtype.h"

namespace db {
namespace gguf {
class File;
}

// A target as llama-quantize names it: a file type (llama_ftype) whose base dtype most matrices get.
struct QuantType {
  std::string_view name;  // canonical spelling: "Q4_K_M", "IQ4_NL", "F16"
  uint32_t ftype;         // llama_ftype, stored as general.file_type
  DType base;
};

// Case-insensitive, with llama-quantize's aliases (Q3_K = Q3_K_M, Q4_K = Q4_K_M, Q5_K = Q5_K_M) and
// its numeric ftypes ("15"); nullopt for anything else.
std::optional<QuantType> quant_type_from_name(std::string_view name);
// The accepted names, comma-separated, for help and error messages.
std::string quant_type_names();

struct QuantizeOptions {
  QuantType type{"Q8_0", 7, DType::Q8_0};
  bool pure = false;              // every quantizable matrix gets type.base (llama-quantize --pure)
  bool allow_requantize = false;  // accept already-quantized input tensors (quality loss)
  int n_threads = 0;              // 0: all cores
};

// One tensor's plan, in the order the output file lists tensors (llama.cpp's: by layer, then name).
struct TensorPlan {
  std::string name;
  DType from;
  DType to;
  bool fallback = false;  // the mix's type did not fit the row length; `to` is llama.cpp's fallback
};

// The type every tensor of `file` gets. Throws db::Error("[quantize] ...") for an architecture the
// rules do not cover, or an input tensor that would need requantizing without allow_requantize.
std::vector<TensorPlan> plan_quantization(const gguf::File& file, const QuantizeOptions& options);

struct QuantizeProgress {
  size_t tensor;         // index into the plan
  size_t n_tensors;
  const TensorPlan* plan;
  double tensor_done;    // fraction of this tensor written, 0..1
  uint64_t bytes_done;   // output bytes of tensor data written so far
  uint64_t bytes_total;  // output bytes of tensor data in all
};

struct QuantizeResult {
  std::vector<TensorPlan> plan;
  uint64_t bytes_in = 0;   // tensor data read
  uint64_t bytes_out = 0;  // tensor data written
  uint64_t n_elements = 0;
  double seconds = 0;
};

// Reads `input` (memory-mapped) and writes `output` tensor by tensor, so neither model has to fit in
// memory; `progress` (optional) is called from the calling thread as tensors advance.
QuantizeResult quantize_model(const std::string& input, const std::string& output, const QuantizeOptions& options,
                              const std::function<void(const QuantizeProgress&)>& progress = {});

}  // namespace db
