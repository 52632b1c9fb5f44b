#include "drawbridge/session.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "drawbridge/device.h"
#include "drawbridge/error.h"

namespace db {

namespace {

SessionOptions resolve(const Model& m, SessionOptions o) {
  if (o.n_ctx == 0) o.n_ctx = std::min(m.config().n_ctx_train, 4096);
  if (o.n_threads == 0) o.n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
  DB_CHECK(o.n_ctx > 0 && o.n_ctx <= (1 << 24), "[session] context size {} must be in 1..16777216", o.n_ctx);
  DB_CHECK(o.n_threads >= 1 && o.n_threads <= 1024, "[session] thread count {} must be in 1..1024", o.n_threads);
  DB_CHECK(o.n_batch >= 1, "[session] batch size {} must be positive", o.n_batch);
  return o;
}

}  // namespace

Session::Session(const Model& model, const SessionOptions& options)
    : model_(model),
      options_(resolve(model, options)),
      device_([&] {
        register_builtin_devices();
        return Registry::global().create(options_.device, DeviceOptions{options_.n_threads});
      }()),
      cache_(model.config(), options_.n_ctx, options_.kv_dtype,
             device_->allocate(KvCache::bytes_needed(model.config(), options_.n_ctx, options_.kv_dtype))) {
  logits_.resize(size_t(model.config().n_vocab));
  ids_.resize(size_t(options_.n_batch));
  pos_.resize(size_t(options_.n_batch));
  // Check once, before any work, that the device runs every op of this model (no silent fallback).
  decode_ = build_forward(model_, cache_, 1, 0, true);
  schedule(decode_.graph, {device_.get()}, /*allow_fallback=*/false);
  device_->pack_weights(decode_.graph);  // the HAL's load-time weight packing (reads every weight)
}

Session::~Session() = default;

int Session::n_threads() const { return device_->n_threads(); }

ForwardGraph& Session::graph_for(int n) {
  if (n > 1) return batch_ = build_forward(model_, cache_, n, n_past_, /*last_logits_only=*/true);
  if (decode_.rebasable()) decode_.rebase(n_past_);
  else decode_ = build_forward(model_, cache_, 1, n_past_, /*last_logits_only=*/true);
  return decode_;
}

const float* Session::eval(std::span<const Token> tokens) {
  DB_CHECK(!tokens.empty(), "[session] nothing to evaluate");
  DB_CHECK(int64_t(n_past_) + int64_t(tokens.size()) <= n_ctx(),
           "[session] {} tokens do not fit: {} already in a context of {}", tokens.size(), n_past_, n_ctx());
  const int n_vocab = model_.config().n_vocab;
  for (Token t : tokens)
    DB_CHECK(t >= 0 && t < n_vocab, "[session] token id {} is outside the vocabulary (0..{})", t, n_vocab - 1);
  for (size_t start = 0; start < tokens.size(); start += size_t(options_.n_batch)) {
    const int n = int(std::min(tokens.size() - start, size_t(options_.n_batch)));
    ForwardGraph& fg = graph_for(n);
    for (int i = 0; i < n; ++i) {
      ids_[size_t(i)] = tokens[start + size_t(i)];
      pos_[size_t(i)] = n_past_ + i;
    }
    fg.graph.node(fg.tokens).out.data = ids_.data();
    fg.graph.node(fg.positions).out.data = pos_.data();
    device_->compute(fg.graph);
    std::memcpy(logits_.data(), fg.graph.node(fg.logits).out.data, logits_.size() * sizeof(float));
    n_past_ += n;
  }
  return logits_.data();
}

}  // namespace db
