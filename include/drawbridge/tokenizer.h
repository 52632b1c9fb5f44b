// Tokenizers built from a GGUF vocabulary (tokenizer.ggml.*): SentencePiece-style BPE with scores
// and byte fallback ("llama"), and byte-level BPE with merges ("gpt2") with the pre-tokenizer
// splits of llama3, qwen2, gpt2 and deepseek-llm. Behaviour matches llama.cpp's llama-vocab.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace db {
namespace gguf {
class File;
class Writer;
}  // namespace gguf

using Token = int32_t;

// Token attributes, as stored in tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  UNDEFINED = 0, NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6,
};

// Everything a tokenizer needs, as read from (or written to) GGUF metadata.
struct Vocab {
  std::string model = "llama";    // tokenizer.ggml.model: "llama" (SPM) or "gpt2" (BPE)
  std::string pre = "default";    // tokenizer.ggml.pre: "llama-bpe", "qwen2", "gpt-2", "deepseek-llm", ...
  std::vector<std::string> tokens;
  std::vector<float> scores;      // may be empty for BPE
  std::vector<TokenType> types;   // may be empty (all NORMAL)
  std::vector<std::string> merges;  // "a b" pairs, BPE only
  Token bos = -1, eos = -1, unk = -1, pad = -1;
  bool add_bos = true;            // tokenizer.ggml.add_bos_token
  bool add_eos = false;
  bool add_space_prefix = true;   // SPM only (tokenizer.ggml.add_space_prefix)
};

// Reads the vocabulary keys of a GGUF file; db::Error("[tokenizer] ...") when absent or malformed.
Vocab read_vocab(const gguf::File& file);
// Writes the vocabulary keys (tokenizer.ggml.*) into a GGUF writer.
void write_vocab(gguf::Writer& writer, const Vocab& vocab);
// A small working SentencePiece-style vocabulary of n_vocab tokens for synthetic models: control
// tokens, the 256 byte-fallback tokens, then the most useful English pieces until n_vocab.
Vocab synth_vocab(int n_vocab);

class Tokenizer {
 public:
  static std::unique_ptr<Tokenizer> create(const Vocab& vocab);  // throws on unsupported model/pre
  virtual ~Tokenizer() = default;

  // Text → ids. add_special adds BOS (and EOS) as the vocabulary asks; parse_special lets
  // control-token text such as "<s>" map to its id instead of being split as plain text.
  virtual std::vector<Token> encode(std::string_view text, bool add_special,
                                    bool parse_special = false) const = 0;
  // The bytes one token stands for (SPM "▁" becomes a space, byte tokens their byte, control
  // tokens nothing unless special=true).
  virtual std::string token_to_piece(Token id, bool special = false) const = 0;
  // Ids → text; concatenates pieces, dropping the SPM leading space when remove_space_prefix.
  std::string decode(const std::vector<Token>& ids, bool special = false) const;

  const Vocab& vocab() const { return vocab_; }
  int n_vocab() const { return int(vocab_.tokens.size()); }
  bool is_eog(Token id) const;  // end of generation (EOS, EOT-like control tokens)

 protected:
  explicit Tokenizer(Vocab v) : vocab_(std::move(v)) {}
  Vocab vocab_;
  std::vector<Token> eog_ids_;  // sorted; filled by the implementation
};

}  // namespace db
