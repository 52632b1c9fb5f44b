// An inference session: a model, its KV cache and a backend; evaluates tokens and returns logits.
#pragma once
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "drawbridge/builder.h"
#include "drawbridge/model.h"
#include "drawbridge/tokenizer.h"

namespace db {

class Device;

struct SessionOptions {
  int n_ctx = 0;       // 0: min(model training context, 4096)
  int n_threads = 0;   // 0: hardware concurrency
  int n_batch = 512;   // tokens per forward pass during prompt processing
  DType kv_dtype = DType::F16;
  std::string device = "cpu";  // a registry id: "cpu", "sim:<chip>"
};

class Session {
 public:
  Session(const Model& model, const SessionOptions& options);
  ~Session();
  // Appends tokens to the sequence and returns the logits of the last one (n_vocab floats,
  // valid until the next call). Throws db::Error when the context would overflow. A one-token
  // step reuses the decode graph (see decode_), so on the CPU a steady token loop allocates nothing.
  const float* eval(std::span<const Token> tokens);
  const float* eval(const std::vector<Token>& tokens) { return eval(std::span<const Token>(tokens)); }
  void reset() { n_past_ = 0; }
  int n_past() const { return n_past_; }
  int n_ctx() const { return cache_.n_ctx(); }
  int n_threads() const;
  const Model& model() const { return model_; }
  Device& device() { return *device_; }

 private:
  const Model& model_;
  SessionOptions options_;
  std::unique_ptr<Device> device_;
  KvCache cache_;
  // The graph for `n` tokens after n_past_ cached ones: for one token the kept decode graph, rebased
  // to n_past_ when it is rebasable (ForwardGraph::rebase) and built again otherwise; for more a
  // fresh graph in batch_.
  ForwardGraph& graph_for(int n);

  std::vector<float> logits_;
  ForwardGraph decode_;             // one token; built in the constructor
  ForwardGraph batch_;              // the last prompt batch
  std::vector<int32_t> ids_, pos_;  // n_batch entries: the token and position leaves' data
  int n_past_ = 0;
};

}  // namespace db
