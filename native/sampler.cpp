#include "sampler.h"

#include "common.h"

namespace akachat {

SamplerOptions SamplerOptions::FromObject(const Napi::Object& o) {
  SamplerOptions s;
  s.temperature = static_cast<float>(NumberOpt(o, "temperature", s.temperature));
  s.topK = static_cast<int32_t>(NumberOpt(o, "topK", s.topK));
  s.topP = static_cast<float>(NumberOpt(o, "topP", s.topP));
  s.minP = static_cast<float>(NumberOpt(o, "minP", s.minP));
  s.repeatPenalty = static_cast<float>(NumberOpt(o, "repeatPenalty", s.repeatPenalty));
  s.repeatLastN = static_cast<int32_t>(NumberOpt(o, "repeatLastN", s.repeatLastN));
  s.presencePenalty = static_cast<float>(NumberOpt(o, "presencePenalty", s.presencePenalty));
  s.frequencyPenalty = static_cast<float>(NumberOpt(o, "frequencyPenalty", s.frequencyPenalty));
  double seed = NumberOpt(o, "seed", -1);
  s.seed = seed < 0 ? LLAMA_DEFAULT_SEED : static_cast<uint32_t>(seed);
  return s;
}

llama_sampler* buildSampler(const SamplerOptions& o, const llama_vocab* vocab) {
  llama_sampler_chain_params params = llama_sampler_chain_default_params();
  params.no_perf = true;
  llama_sampler* chain = llama_sampler_chain_init(params);
  const bool penalties = o.repeatPenalty != 1.0f || o.presencePenalty != 0.0f || o.frequencyPenalty != 0.0f;
  if (penalties && o.repeatLastN != 0) {
    llama_sampler_chain_add(chain, llama_sampler_init_penalties(llama_vocab_n_tokens(vocab), o.repeatLastN,
                                                                o.repeatPenalty, o.frequencyPenalty,
                                                                o.presencePenalty));
  }
  if (o.temperature <= 0.0f) {
    llama_sampler_chain_add(chain, llama_sampler_init_greedy());
    return chain;
  }
  if (o.topK > 0) llama_sampler_chain_add(chain, llama_sampler_init_top_k(o.topK));
  if (o.topP < 1.0f) llama_sampler_chain_add(chain, llama_sampler_init_top_p(o.topP, 1));
  if (o.minP > 0.0f) llama_sampler_chain_add(chain, llama_sampler_init_min_p(o.minP, 1));
  llama_sampler_chain_add(chain, llama_sampler_init_temp(o.temperature));
  llama_sampler_chain_add(chain, llama_sampler_init_dist(o.seed));
  return chain;
}

}  // namespace akachat
