// Sampler chain built per generation from plain options (copied on the JS thread).
#pragma once

#include <llama.h>
#include <napi.h>

#include <cstdint>

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

  static SamplerOptions FromObject(const Napi::Object& o);
  // Greedy with every penalty off: the caller may take the argmax of the logits directly.
  bool isPlainGreedy() const {
    return temperature <= 0.0f && repeatPenalty == 1.0f && presencePenalty == 0.0f && frequencyPenalty == 0.0f;
  }
};

// Caller owns the returned chain (wrap it in llama_sampler_ptr).
llama_sampler* buildSampler(const SamplerOptions& options, const llama_vocab* vocab);

}  // namespace akachat
