// Sampler chain built per generation from plain options (copied on the JS thread).
#pragma once

#include <llama-cpp.h>
#include <napi.h>

#include <cstdint>
#include <vector>

namespace akachat {

struct SamplerOptions {
  float temperature = 0.8f;  // <= 0: greedy
  int32_t topK = 40;         // <= 0: off
  float topP = 0.95f;        // >= 1: off
  float minP = 0.05f;        // <= 0: off
  float repeatPenalty = 1.0f;  // 1: off
  int32_t repeatLastN = 64;
  float presencePenalty = 0.0f;
  float frequencyPenalty = 0.0f;
  uint32_t seed = LLAMA_DEFAULT_SEED;  // LLAMA_DEFAULT_SEED: random
  // GBNF grammar sampler from the `grammar` option, or null. Parsed on the JS thread, so a bad
  // grammar is an error of the generate() call; the Sampler takes it over.
  llama_sampler_ptr grammar;

  // Throws a JS INVALID_ARGUMENT error when the grammar does not parse.
  static SamplerOptions FromObject(const Napi::Object& o, const llama_vocab* vocab);
  // Greedy with every penalty off and no grammar: the caller may take the argmax of the logits.
  bool isPlainGreedy() const {
    return temperature <= 0.0f && repeatPenalty == 1.0f && presencePenalty == 0.0f && frequencyPenalty == 0.0f &&
           !grammar;
  }
};

// One generation's sampler: the chain from the options and the grammar (taken from them).
class Sampler {
 public:
  // Repetition penalties see the end of `prompt`; the grammar constrains generated tokens only.
  Sampler(SamplerOptions& options, const llama_vocab* vocab, const std::vector<llama_token>& prompt);
  // Samples the next token from the logits at `idx` and accepts it. With a grammar, as llama.cpp's
  // common sampler does: the chain's choice is checked against the grammar alone, and only a
  // refused one is sampled again with the grammar over the whole vocabulary (~8 ms for 32k
  // tokens). Throws std::runtime_error when the grammar allows no token at all (llama.cpp would
  // accept a refused token, and aborts the process if that token ends the text).
  llama_token sample(llama_context* ctx, int32_t idx);

 private:
  void loadCandidates(llama_context* ctx, int32_t idx);
  llama_sampler_ptr chain_;
  llama_sampler_ptr grammar_;
  std::vector<llama_token_data> candidates_;
};

// jsonSchemaToGrammar(schema: string) -> string: llama.cpp's JSON schema to GBNF conversion.
Napi::Value JsonSchemaToGrammar(const Napi::CallbackInfo& info);

}  // namespace akachat
