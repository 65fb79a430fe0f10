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

Sampler::Sampler(SamplerOptions& o, const llama_vocab* vocab, const std::vector<llama_token>& prompt)
    : chain_(newChain()), grammar_(std::move(o.grammar)) {
  llama_sampler* chain = chain_.get();
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
}

void Sampler::loadCandidates(llama_context* ctx, int32_t idx) {
  const float* logits = llama_get_logits_ith(ctx, idx);
  if (logits == nullptr) throw std::runtime_error("No logits at batch index " + std::to_string(idx));
  const int32_t nVocab = llama_vocab_n_tokens(llama_model_get_vocab(llama_get_model(ctx)));
  candidates_.resize(static_cast<size_t>(nVocab));
  for (llama_token id = 0; id < nVocab; id++) candidates_[static_cast<size_t>(id)] = {id, logits[id], 0.0f};
}

llama_token Sampler::sample(llama_context* ctx, int32_t idx) {
  constexpr float refused = -std::numeric_limits<float>::infinity();
  loadCandidates(ctx, idx);
  llama_token_data_array all = {candidates_.data(), candidates_.size(), -1, false};
  llama_sampler_apply(chain_.get(), &all);
  if (all.selected < 0 || static_cast<size_t>(all.selected) >= all.size) throw std::runtime_error("the sampler chose no token");
  llama_token token = all.data[all.selected].id;
  if (grammar_) {
    llama_token_data single = {token, 1.0f, 0.0f};
    llama_token_data_array one = {&single, 1, -1, false};
    llama_sampler_apply(grammar_.get(), &one);
    if (single.logit == refused) {
      loadCandidates(ctx, idx);
      all = {candidates_.data(), candidates_.size(), -1, false};
      llama_sampler_apply(grammar_.get(), &all);
      llama_sampler_apply(chain_.get(), &all);
      if (all.selected < 0 || static_cast<size_t>(all.selected) >= all.size || all.data[all.selected].logit == refused) {
        throw std::runtime_error("the grammar allows no token of the vocabulary here");
      }
      token = all.data[all.selected].id;
    }
    llama_sampler_accept(grammar_.get(), token);
  }
  llama_sampler_accept(chain_.get(), token);
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
