#include "sampler.h"

#include <json-schema-to-grammar.h>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "common.h"

namespace akachat {

SamplerOptions SamplerOptions::FromObject(const Napi::Object& o, const llama_vocab* vocab) {
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
  const std::string grammar = StringOpt(o, "grammar", "");
  if (!grammar.empty()) {
    // llama.cpp's parser says why only on stderr; its log says that it failed.
    clearRecentErrors();
    s.grammar.reset(llama_sampler_init_grammar(vocab, grammar.c_str(), "root"));
    if (!s.grammar) {
      const std::string reason = recentErrors();
      ThrowError(o.Env(), "Invalid GBNF grammar" + (reason.empty() ? std::string() : ": " + reason), "INVALID_ARGUMENT");
    }
  }
  return s;
}

namespace {

llama_sampler* newChain() {
  llama_sampler_chain_params params = llama_sampler_chain_default_params();
  params.no_perf = true;
  return llama_sampler_chain_init(params);
}

}  // namespace

llama_sampler* buildSampler(SamplerOptions& o, const llama_vocab* vocab, const std::vector<llama_token>& prompt) {
  llama_sampler* chain = newChain();
  const bool penalties = o.repeatPenalty != 1.0f || o.presencePenalty != 0.0f || o.frequencyPenalty != 0.0f;
  if (penalties && o.repeatLastN != 0) {
    llama_sampler_chain_add(chain, llama_sampler_init_penalties(llama_vocab_n_tokens(vocab), o.repeatLastN,
                                                                o.repeatPenalty, o.frequencyPenalty,
                                                                o.presencePenalty));
  }
  if (o.temperature <= 0.0f) {
    llama_sampler_chain_add(chain, llama_sampler_init_greedy());
  } else {
    if (o.topK > 0) llama_sampler_chain_add(chain, llama_sampler_init_top_k(o.topK));
    if (o.topP < 1.0f) llama_sampler_chain_add(chain, llama_sampler_init_top_p(o.topP, 1));
    if (o.minP > 0.0f) llama_sampler_chain_add(chain, llama_sampler_init_min_p(o.minP, 1));
    llama_sampler_chain_add(chain, llama_sampler_init_temp(o.temperature));
    llama_sampler_chain_add(chain, llama_sampler_init_dist(o.seed));
  }
  // Repetition penalties also see the end of the prompt.
  const size_t window = static_cast<size_t>(std::max(0, o.repeatLastN));
  for (size_t i = prompt.size() > window ? prompt.size() - window : 0; i < prompt.size(); i++) {
    llama_sampler_accept(chain, prompt[i]);
  }
  if (!o.grammar) return chain;
  // The grammar goes first, so top-k and the rest choose among the tokens it allows, and
  // outside the inner chain, so the prompt tokens accepted above did not advance it.
  llama_sampler* outer = newChain();
  llama_sampler_chain_add(outer, o.grammar.release());
  llama_sampler_chain_add(outer, chain);
  return outer;
}

llama_token sampleToken(llama_sampler* chain, llama_context* ctx, int32_t idx) {
  const float* logits = llama_get_logits_ith(ctx, idx);
  if (logits == nullptr) throw std::runtime_error("No logits at batch index " + std::to_string(idx));
  const int32_t nVocab = llama_vocab_n_tokens(llama_model_get_vocab(llama_get_model(ctx)));
  thread_local std::vector<llama_token_data> candidates;  // one loop thread per context
  candidates.resize(static_cast<size_t>(nVocab));
  for (llama_token id = 0; id < nVocab; id++) candidates[static_cast<size_t>(id)] = {id, logits[id], 0.0f};
  llama_token_data_array array = {candidates.data(), candidates.size(), -1, false};
  llama_sampler_apply(chain, &array);
  if (array.selected < 0 || static_cast<size_t>(array.selected) >= array.size ||
      array.data[array.selected].logit == -std::numeric_limits<float>::infinity()) {
    throw std::runtime_error("the grammar allows no token of the vocabulary here");
  }
  const llama_token token = array.data[array.selected].id;
  llama_sampler_accept(chain, token);
  return token;
}

Napi::Value JsonSchemaToGrammar(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string schema = StringArg(info, 0, "schema");
  std::string grammar;
  try {
    grammar = json_schema_to_grammar(common_json::parse(schema), true);
  } catch (const std::exception& e) {
    ThrowError(env, std::string("Invalid JSON schema: ") + e.what(), "INVALID_ARGUMENT");
  }
  return Napi::String::New(env, grammar);
}

}  // namespace akachat
