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
  // Added to the logits before every other sampler (-INFINITY bans a token). Token ids are checked
  // against the vocabulary when copied.
  std::vector<llama_logit_bias> logitBias;
  // Most likely tokens reported with each generated one (0: none), and whether their
  // probabilities are taken after the sampling chain instead of from the raw logits.
  int32_t probabilities = 0;
  bool postSamplingProbabilities = false;

  // Throws a JS INVALID_ARGUMENT error when the grammar does not parse.
  static SamplerOptions FromObject(const Napi::Object& o, const llama_vocab* vocab);
  // Greedy with every penalty off and no grammar: the caller may take the argmax of the logits.
  bool isPlainGreedy() const {
    return temperature <= 0.0f && repeatPenalty == 1.0f && presencePenalty == 0.0f && frequencyPenalty == 0.0f &&
           !grammar && logitBias.empty();
  }
};

// Probabilities reported with generated tokens, appended flat per token: `probs` gets the chosen
// token's probability and then those of the `n` most likely tokens (best first), `ids` their ids;
// fewer than `n` candidates (a sampler cut the rest) are padded with id -1 and probability 0.
struct TokenProbabilities {
  int32_t n = 0;
  std::vector<float> probs;
  std::vector<int32_t> ids;
  void clear() {
    probs.clear();
    ids.clear();
  }
  // Softmax over `count` candidates by logit (those a sampler cut have -INFINITY).
  void append(llama_token chosen, const llama_token_data* candidates, size_t count);
  // Softmax of the raw logits, as llama-server's n_probs without post_sampling_probs.
  void appendFromLogits(llama_token chosen, const float* logits, int32_t nVocab);
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
  // Appends the probabilities after the chain (see TokenProbabilities) to `out` when given.
  llama_token sample(llama_context* ctx, int32_t idx, TokenProbabilities* out = nullptr);

 private:
  void loadCandidates(llama_context* ctx, int32_t idx);
  llama_sampler_ptr chain_;
  llama_sampler_ptr grammar_;
  std::vector<llama_token_data> candidates_;
};

// jsonSchemaToGrammar(schema: string) -> string: llama.cpp's JSON schema to GBNF conversion.
Napi::Value JsonSchemaToGrammar(const Napi::CallbackInfo& info);

}  // namespace akachat
