// Model profiles: public architecture hyperparameters (data/models/<id>.toml) with their source.
// Every key is checked against the schema below, so a typo or a wrong type fails with the file and
// the field named instead of silently falling back to a default.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <toml++/toml.h>

#include "drawbridge/error.h"
#include "perf/toml_screen.h"
#include "drawbridge/model.h"
#include "llm/model_catalogue.h"

namespace db {
namespace {

// Reads typed values out of one TOML table, remembering which keys were consumed so that unknown
// keys can be reported.
class Reader {
 public:
  Reader(const toml::table& t, std::string path, const std::string& origin)
      : t_(t), path_(std::move(path)), origin_(origin) {}

  int integer(std::string_view key, std::optional<int64_t> fallback = std::nullopt) {
    const toml::node* n = take(key);
    if (!n) {
      DB_CHECK(fallback.has_value(), "[model] {}: {} is missing", origin_, where(key));
      return int(*fallback);
    }
    const auto v = n->value_exact<int64_t>();
    DB_CHECK(v.has_value(), "[model] {}: {} must be an integer", origin_, where(key));
    DB_CHECK(*v >= 0, "[model] {}: {} is negative ({})", origin_, where(key), *v);
    DB_CHECK(*v < (int64_t(1) << 31), "[model] {}: {} = {} is out of range", origin_, where(key), *v);
    return int(*v);
  }
  double number(std::string_view key, std::optional<double> fallback = std::nullopt) {
    const toml::node* n = take(key);
    if (!n) {
      DB_CHECK(fallback.has_value(), "[model] {}: {} is missing", origin_, where(key));
      return *fallback;
    }
    const auto v = n->value<double>();
    DB_CHECK(n->is_number() && v && std::isfinite(*v), "[model] {}: {} must be a number", origin_, where(key));
    DB_CHECK(*v >= 0, "[model] {}: {} is negative ({})", origin_, where(key), *v);
    return *v;
  }
  bool boolean(std::string_view key, std::optional<bool> fallback = std::nullopt) {
    const toml::node* n = take(key);
    if (!n) {
      DB_CHECK(fallback.has_value(), "[model] {}: {} is missing", origin_, where(key));
      return *fallback;
    }
    DB_CHECK(n->is_boolean(), "[model] {}: {} must be true or false", origin_, where(key));
    return *n->value<bool>();
  }
  std::string text(std::string_view key, std::optional<std::string> fallback = std::nullopt) {
    const toml::node* n = take(key);
    if (!n) {
      DB_CHECK(fallback.has_value(), "[model] {}: {} is missing", origin_, where(key));
      return *fallback;
    }
    DB_CHECK(n->is_string(), "[model] {}: {} must be a string", origin_, where(key));
    return *n->value<std::string>();
  }
  // One of `choices`, by name.
  template <typename E>
  E choice(std::string_view key, const std::vector<std::pair<std::string_view, E>>& choices, E fallback) {
    if (!t_.contains(key)) return fallback;
    const std::string s = text(key);
    std::vector<std::string_view> names;
    for (const auto& [name, value] : choices) {
      if (name == s) return value;
      names.push_back(name);
    }
    fail("[model] {}: {} is '{}' (one of: {})", origin_, where(key), s, fmt::join(names, ", "));
  }
  const toml::table* sub(std::string_view key) {
    const toml::node* n = take(key);
    if (!n) return nullptr;
    const toml::table* t = n->as_table();
    DB_CHECK(t, "[model] {}: {} must be a table", origin_, where(key));
    return t;
  }
  // Every key must have been read.
  void finish() const {
    for (auto&& [key, node] : t_)
      DB_CHECK(std::find(seen_.begin(), seen_.end(), key.str()) != seen_.end(),
               "[model] {}: {} is not a known field", origin_, where(key.str()));
  }
  std::string where(std::string_view key) const { return path_.empty() ? std::string(key) : path_ + "." + std::string(key); }

 private:
  const toml::node* take(std::string_view key) {
    seen_.emplace_back(key);
    return t_.get(key);
  }
  const toml::table& t_;
  std::string path_;
  const std::string& origin_;
  std::vector<std::string> seen_;
};

void read_moe(Reader& r, MoeConfig& m) {
  m.n_expert = r.integer("n_expert");
  m.n_expert_used = r.integer("n_expert_used");
  m.n_expert_shared = r.integer("n_expert_shared", 0);
  m.n_ff_expert = r.integer("n_ff_expert");
  m.n_ff_shared = r.integer("n_ff_shared", 0);
  m.n_layer_dense_lead = r.integer("n_layer_dense_lead", 0);
  m.layer_step = r.integer("layer_step", 1);
}

void read_mla(Reader& r, MlaConfig& m) {
  m.q_lora_rank = r.integer("q_lora_rank");
  m.kv_lora_rank = r.integer("kv_lora_rank");
  m.qk_nope_head_dim = r.integer("qk_nope_head_dim");
  m.qk_rope_head_dim = r.integer("qk_rope_head_dim");
  m.v_head_dim = r.integer("v_head_dim");
}

void read_linear_attn(Reader& r, LinearAttnConfig& l) {
  l.full_attn_interval = r.integer("full_attn_interval");
  l.n_head_k = r.integer("n_head_k");
  l.n_head_v = r.integer("n_head_v");
  l.head_dim_k = r.integer("head_dim_k");
  l.head_dim_v = r.integer("head_dim_v");
  l.conv_kernel = r.integer("conv_kernel");
}

// Applies `read` to the optional sub-table `key` of `parent`, checking it for unknown keys.
template <typename F>
void read_section(Reader& parent, std::string_view key, const std::string& origin, F&& read) {
  if (const toml::table* t = parent.sub(key)) {
    Reader r(*t, parent.where(key), origin);
    read(r);
    r.finish();
  }
}

ModelConfig read_model(const toml::table& t, const std::string& origin) {
  Reader r(t, "model", origin);
  ModelConfig c;
  const std::string arch = r.text("arch");
  const auto a = arch_from_name(arch);
  DB_CHECK(a.has_value(), "[model] {}: model.arch is '{}' (one of: llama, qwen2, qwen3, qwen3next, deepseek2, gpt, gptj)",
           origin, arch);
  c.arch = *a;
  c.n_layer = r.integer("n_layer");
  c.n_embd = r.integer("n_embd");
  c.n_ff = r.integer("n_ff");
  c.n_head = r.integer("n_head");
  c.n_head_kv = r.integer("n_head_kv", c.n_head);
  c.head_dim = r.integer("head_dim", c.n_head > 0 && c.n_embd % c.n_head == 0 ? c.n_embd / c.n_head : 0);
  c.n_vocab = r.integer("n_vocab");
  c.n_ctx_train = r.integer("n_ctx_train");
  c.pos_embd = r.choice<PosEmbd>("positions", {{"rope", PosEmbd::Rope}, {"learned", PosEmbd::Learned}}, PosEmbd::Rope);
  const bool rope = c.pos_embd == PosEmbd::Rope;
  c.n_rot = r.integer("n_rot", rope ? c.head_dim : 0);
  c.rope_freq_base = float(r.number("rope_freq_base", rope ? std::nullopt : std::optional<double>(10000.0)));
  c.rope_freq_scale = float(1.0 / r.number("rope_scaling_factor", 1.0));
  const bool qwen = c.arch == Arch::Qwen2 || c.arch == Arch::Qwen3 || c.arch == Arch::Qwen3Next;
  c.rope_type = r.choice<RopeType>("rope_type", {{"normal", RopeType::Normal}, {"neox", RopeType::Neox}},
                                   qwen ? RopeType::Neox : RopeType::Normal);
  c.norm_eps = float(r.number("norm_eps"));
  c.norm_type = r.choice<NormType>("norm", {{"rms", NormType::Rms}, {"layer", NormType::Layer}}, NormType::Rms);
  c.ffn_type = r.choice<FfnType>("ffn", {{"swiglu", FfnType::SwiGlu}, {"gelu", FfnType::Gelu}}, FfnType::SwiGlu);
  c.has_qkv_bias = r.boolean("qkv_bias", false);
  c.has_attn_out_bias = r.boolean("attn_out_bias", false);
  c.has_ffn_bias = r.boolean("ffn_bias", false);
  c.has_output_bias = r.boolean("output_bias", false);
  c.parallel_block = r.boolean("parallel_block", false);
  c.qk_norm = r.boolean("qk_norm", false);
  c.attn_output_gate = r.boolean("attn_output_gate", false);
  c.tied_output = r.boolean("tied_output");
  read_section(r, "moe", origin, [&](Reader& s) { read_moe(s, c.moe); });
  read_section(r, "mla", origin, [&](Reader& s) { read_mla(s, c.mla); });
  read_section(r, "sliding_window", origin, [&](Reader& s) {
    c.swa.window = s.integer("window");
    c.swa.full_every = s.integer("full_every", 0);
  });
  read_section(r, "linear_attn", origin, [&](Reader& s) { read_linear_attn(s, c.linear_attn); });
  read_section(r, "sparse_attn", origin, [&](Reader& s) {
    c.sparse_attn.index_n_heads = s.integer("index_n_heads");
    c.sparse_attn.index_head_dim = s.integer("index_head_dim");
    c.sparse_attn.top_k = s.integer("top_k");
  });
  r.finish();
  try {
    c.validate();
  } catch (const Error& e) {  // name the file: "[model] <file>: <field> ..."
    std::string msg = e.what();
    if (msg.starts_with("[model] ")) msg = msg.substr(8);
    fail("[model] {}: {}", origin, msg);
  }
  return c;
}

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  DB_CHECK(in, "[model] {}: cannot read the file", file.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char* embedded_text(std::string_view id) {
  for (size_t i = 0; i < kEmbeddedModelCount; ++i)
    if (std::string_view(kEmbeddedModels[i].file) == std::string(id) + ".toml") return kEmbeddedModels[i].text;
  return nullptr;
}

}  // namespace

ModelProfile parse_model_profile(std::string_view text, const std::string& origin) {
  perf::screen_toml(text, origin, "model", perf::kMaxTomlBytes);
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    fail("[model] {}: line {}: {}", origin, e.source().begin.line, e.description());
  }
  Reader r(root, "", origin);
  ModelProfile p;
  p.origin = origin;
  p.id = r.text("id");
  DB_CHECK(!p.id.empty(), "[model] {}: id is empty", origin);
  p.name = r.text("name");
  p.source = r.text("source");
  DB_CHECK(!p.source.empty(), "[model] {}: source is empty (every profile names where its numbers come from)", origin);
  p.note = r.text("note", "");
  const toml::table* model = r.sub("model");
  DB_CHECK(model, "[model] {}: the [model] table is missing", origin);
  p.config = read_model(*model, origin);
  read_section(r, "public", origin, [&](Reader& s) {
    p.public_params_total = s.number("params_total", 0.0);
    p.public_params_active = s.number("params_active", 0.0);
    p.params_source = s.text("source");
    p.public_tolerance = s.number("tolerance", 0.0);
    if (const std::string n = s.text("note", ""); !n.empty()) p.params_source += " (" + n + ")";
    DB_CHECK(p.public_tolerance < 0.5, "[model] {}: public.tolerance {} must be below 0.5", origin, p.public_tolerance);
  });
  if (const toml::table* notes = r.sub("notes")) {
    for (auto&& [key, node] : *notes) {
      DB_CHECK(node.is_string(), "[model] {}: notes.{} must be a string", origin, key.str());
      p.field_notes.emplace_back(std::string(key.str()), *node.value<std::string>());
    }
  }
  r.finish();
  return p;
}

ModelProfile load_model_profile_full(const std::string& id_or_path) {
  DB_CHECK(!id_or_path.empty(), "[model] no model id or profile path given");
  if (id_or_path.ends_with(".toml") || id_or_path.find('/') != std::string::npos) {
    const std::filesystem::path file(id_or_path);
    ModelProfile p = parse_model_profile(slurp(file), file.string());
    DB_CHECK(p.id == file.stem().string(), "[model] {}: id '{}' differs from the file name", file.string(), p.id);
    return p;
  }
  if (const char* dir = std::getenv("DRAWBRIDGE_MODELS_DIR"); dir && *dir) {
    const auto file = std::filesystem::path(dir) / (id_or_path + ".toml");
    if (std::filesystem::exists(file)) return load_model_profile_full(file.string());
  }
  const char* text = embedded_text(id_or_path);
  DB_CHECK(text, "[model] unknown model '{}' (known: {})", id_or_path, fmt::join(model_profile_ids(), ", "));
  return parse_model_profile(text, "built-in data/models/" + id_or_path + ".toml");
}

ModelConfig load_model_profile(const std::string& id_or_path) { return load_model_profile_full(id_or_path).config; }

std::vector<std::string> model_profile_ids() {
  std::vector<std::string> ids;
  for (size_t i = 0; i < kEmbeddedModelCount; ++i) {
    std::string f = kEmbeddedModels[i].file;
    ids.push_back(f.substr(0, f.size() - 5));
  }
  if (const char* dir = std::getenv("DRAWBRIDGE_MODELS_DIR"); dir && *dir && std::filesystem::is_directory(dir))
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".toml") ids.push_back(e.path().stem().string());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace db
