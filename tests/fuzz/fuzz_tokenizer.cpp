// libFuzzer entry point for both tokenizers: any byte string must encode to in-range ids and
// decode again without crashing, hanging or reading out of bounds. The vocabularies are the
// synthetic SentencePiece one plus every real vocabulary found in $DRAWBRIDGE_SHARED/tokenizers
// (byte-level BPE with the llama3, qwen2, gpt-2 and deepseek pre-tokenizers). Built by tools/fuzz.sh.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "drawbridge/error.h"
#include "drawbridge/gguf.h"
#include "drawbridge/tokenizer.h"

namespace {

std::vector<std::unique_ptr<db::Tokenizer>> load_tokenizers() {
  std::vector<std::unique_ptr<db::Tokenizer>> out;
  out.push_back(db::Tokenizer::create(db::synth_vocab(1000)));
  const char* shared = std::getenv("DRAWBRIDGE_SHARED");
  const std::filesystem::path dir = std::filesystem::path(shared ? shared : "../shared") / "tokenizers";
  for (const char* name : {"llama-spm", "llama-bpe", "qwen2", "gpt-2", "deepseek-llm"}) {
    const auto path = dir / (std::string("ggml-vocab-") + name + ".gguf");
    if (!std::filesystem::exists(path)) continue;
    out.push_back(db::Tokenizer::create(db::read_vocab(*db::gguf::File::open(path.string()))));
  }
  return out;
}

std::vector<std::unique_ptr<db::Tokenizer>> tokenizers;

}  // namespace

// Loading the large vocabularies takes seconds; doing it here keeps it out of the per-input timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizers = load_tokenizers();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const db::Tokenizer& tok = *tokenizers[data[0] % tokenizers.size()];
  const bool add_special = data[0] & 0x40, parse_special = data[0] & 0x80;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::vector<db::Token> ids = tok.encode(text, add_special, parse_special);
  for (db::Token id : ids)
    if (id < 0 || id >= tok.n_vocab()) std::abort();  // an id outside the vocabulary is a bug
  (void)tok.decode(ids, /*special=*/true);
  return 0;
}
