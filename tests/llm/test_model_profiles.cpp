// Model profiles (data/models/*.toml): every built-in profile loads and validates, and a broken
// profile fails with one line naming the file and the field.
#include <gtest/gtest.h>

#include <string>

#include "drawbridge/error.h"
#include "drawbridge/model.h"

namespace db {
namespace {

const char* kMinimal = R"(
id = "tiny"
name = "Tiny"
source = "test"
[model]
arch = "llama"
n_layer = 2
n_embd = 64
n_ff = 128
n_head = 4
n_vocab = 100
n_ctx_train = 256
rope_freq_base = 10000.0
norm_eps = 1e-5
tied_output = true
)";

std::string error_of(const std::string& text) {
  try {
    parse_model_profile(text, "bad.toml");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? s : s.replace(at, from.size(), to);
}

TEST(ModelProfiles, EveryBuiltInProfileLoads) {
  const auto ids = model_profile_ids();
  ASSERT_GE(ids.size(), 10u);
  for (const auto& id : ids) {
    SCOPED_TRACE(id);
    const ModelProfile p = load_model_profile_full(id);
    EXPECT_EQ(p.id, id);
    EXPECT_FALSE(p.source.empty());
    EXPECT_GT(p.config.n_layer, 0);
  }
}

TEST(ModelProfiles, DenseLlamaIdsArePresent) {
  for (const char* id : {"llama-7b", "llama-13b", "llama-2-70b", "llama-3-8b", "llama-3.1-8b", "llama-3.3-70b",
                         "llama-3.1-405b", "qwen1.5-7b", "qwen3-8b", "qwen3-32b"}) {
    SCOPED_TRACE(id);
    EXPECT_NO_THROW(load_model_profile(id));
  }
}

TEST(ModelProfiles, MinimalProfileParsesWithDefaults) {
  const ModelProfile p = parse_model_profile(kMinimal, "tiny.toml");
  EXPECT_EQ(p.config.n_head_kv, 4);
  EXPECT_EQ(p.config.head_dim, 16);
  EXPECT_EQ(p.config.n_rot, 16);
  EXPECT_EQ(p.config.norm_type, NormType::Rms);
  EXPECT_FALSE(p.config.moe.enabled());
}

TEST(ModelProfiles, MalformedTomlNamesTheFileAndLine) {
  const std::string e = error_of("id = \"x\"\n[model\n");
  EXPECT_NE(e.find("[model] bad.toml: line 2"), std::string::npos) << e;
}

// Model profiles come from users too (DRAWBRIDGE_MODELS_DIR, --model FILE.toml): they pass the same
// screen as device profiles before toml++ (which overflows its stack on deep keys).
TEST(ModelProfiles, WhatTomlPlusPlusCannotBeTrustedWithIsRefusedFirst) {
  std::string deep = "a";
  for (int i = 0; i < 100000; ++i) deep += ".a";
  const std::string e = error_of(deep + " = 1\n");
  EXPECT_NE(e.find("[model] bad.toml: line 1: more than 32 dots"), std::string::npos) << e;
  EXPECT_NE(error_of("id = \"x\"\nname\xc3\xa9 = 1\n").find("[model] bad.toml: line 2: a non-ASCII character"),
            std::string::npos);
}

TEST(ModelProfiles, MissingFieldIsNamed) {
  const std::string e = error_of(replace(kMinimal, "n_layer = 2\n", ""));
  EXPECT_NE(e.find("[model] bad.toml: model.n_layer is missing"), std::string::npos) << e;
}

TEST(ModelProfiles, NegativeValueIsNamed) {
  const std::string e = error_of(replace(kMinimal, "n_ff = 128", "n_ff = -128"));
  EXPECT_NE(e.find("[model] bad.toml: model.n_ff is negative (-128)"), std::string::npos) << e;
}

TEST(ModelProfiles, WrongTypeUnknownFieldAndBadChoiceAreNamed) {
  EXPECT_NE(error_of(replace(kMinimal, "n_head = 4", "n_head = \"four\"")).find("model.n_head must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of(replace(kMinimal, "n_head = 4", "n_head = 4\nn_heads = 4")).find("model.n_heads is not a known field"),
            std::string::npos);
  EXPECT_NE(error_of(replace(kMinimal, "n_head = 4", "n_head = 4\nnorm = \"batch\"")).find("model.norm is 'batch'"),
            std::string::npos);
  EXPECT_NE(error_of(replace(kMinimal, "arch = \"llama\"", "arch = \"rwkv\"")).find("model.arch is 'rwkv'"),
            std::string::npos);
}

TEST(ModelProfiles, InconsistentValuesFailValidationWithTheFileNamed) {
  const std::string e = error_of(replace(kMinimal, "n_head = 4", "n_head = 4\nn_head_kv = 3"));
  EXPECT_NE(e.find("[model] bad.toml: head_count 4 is not a multiple of head_count_kv 3"), std::string::npos) << e;
  const std::string moe = error_of(std::string(kMinimal) + "[model.moe]\nn_expert = 8\nn_expert_used = 9\nn_ff_expert = 32\n");
  EXPECT_NE(moe.find("moe.n_expert_used is 9 (must be in 1..8)"), std::string::npos) << moe;
}

TEST(ModelProfiles, UnknownIdListsTheKnownOnes) {
  try {
    load_model_profile("no-such-model");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown model 'no-such-model' (known: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("llama-2-70b"), std::string::npos);
  }
}

}  // namespace
}  // namespace db
