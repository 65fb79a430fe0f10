#include "sampler.h"

#include <json-schema-to-grammar.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "chat.h"
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
    s.grammar.reset(InitGrammarSampler(o, vocab, grammar));  // lazy and prefilled for tool calls (chat.cpp)
    if (!s.grammar) {
      const std::string reason = recentErrors();
      ThrowError(o.Env(), "Invalid GBNF grammar" + (reason.empty() ? std::string() : ": " + reason), "INVALID_ARGUMENT");
    }
  }
  s.probabilities = static_cast<int32_t>(std::clamp(NumberOpt(o, "probabilities", 0), 0.0, 1024.0));
  s.postSamplingProbabilities = BoolOpt(o, "postSamplingProbabilities", false);
  Napi::Value biasTokens = o.Get("logitBiasTokens");
  Napi::Value biasValues = o.Get("logitBiasValues");
  if (!biasTokens.IsUndefined()) {
    if (!biasTokens.IsTypedArray() || biasTokens.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        !biasValues.IsTypedArray() || biasValues.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
        biasTokens.As<Napi::Int32Array>().ElementLength() != biasValues.As<Napi::Float32Array>().ElementLength()) {
      ThrowError(o.Env(), "Expected an Int32Array logitBiasTokens and a Float32Array logitBiasValues of the same length", "INVALID_ARGUMENT");
    }
    Napi::Int32Array tokens = biasTokens.As<Napi::Int32Array>();
    Napi::Float32Array values = biasValues.As<Napi::Float32Array>();
    const int32_t nVocab = llama_vocab_n_tokens(vocab);
    for (size_t i = 0; i < tokens.ElementLength(); i++) {
      if (tokens[i] < 0 || tokens[i] >= nVocab) {
        ThrowError(o.Env(), "Logit bias token " + std::to_string(tokens[i]) + " is outside the vocabulary", "INVALID_ARGUMENT");
      }
      s.logitBias.push_back({tokens[i], values[i]});
    }
  }
  return s;
}

namespace {

// Appends the chosen token's probability and the n most likely ones' (softmax over `count`
// candidates). One pass keeps the n best (n is small), a second sums the softmax denominator with
// single-precision exp (~0.1 ms for a 32k vocabulary); no sort of the whole vocabulary.
template <typename IdAt, typename LogitAt>
void appendTop(TokenProbabilities& out, llama_token chosen, size_t count, IdAt idAt, LogitAt logitAt) {
  constexpr float cut = -std::numeric_limits<float>::infinity();  // a sampler removed the token
  const size_t n = static_cast<size_t>(out.n);
  std::vector<llama_token_data> best;
  best.reserve(n + 1);
  float maxLogit = cut, chosenLogit = cut;
  for (size_t i = 0; i < count; i++) {
    const float logit = logitAt(i);
    const llama_token id = idAt(i);
    maxLogit = std::max(maxLogit, logit);
    if (id == chosen) chosenLogit = logit;
    if (logit == cut || (best.size() == n && (n == 0 || logit <= best.back().logit))) continue;
    auto at = std::upper_bound(best.begin(), best.end(), logit, [](float l, const llama_token_data& d) { return l > d.logit; });
    best.insert(at, {id, logit, 0.0f});
    if (best.size() > n) best.pop_back();
  }
  float sum = 0;
  if (maxLogit != cut) {
    for (size_t i = 0; i < count; i++) sum += std::exp(logitAt(i) - maxLogit);
  }
  const auto prob = [&](float logit) { return logit == cut || sum == 0 ? 0.0f : std::exp(logit - maxLogit) / sum; };
  out.probs.push_back(prob(chosenLogit));
  // Fewer than n where samplers cut the rest (llama-server reports no zero probabilities either).
  for (size_t i = 0; i < n; i++) {
    const bool kept = i < best.size();
    out.ids.push_back(kept ? best[i].id : -1);
    out.probs.push_back(kept ? prob(best[i].logit) : 0.0f);
  }
}

}  // namespace

void TokenProbabilities::append(llama_token chosen, const llama_token_data* candidates, size_t count) {
  appendTop(*this, chosen, count, [&](size_t i) { return candidates[i].id; }, [&](size_t i) { return candidates[i].logit; });
}

void TokenProbabilities::appendFromLogits(llama_token chosen, const float* logits, int32_t nVocab) {
  appendTop(*this, chosen, static_cast<size_t>(nVocab), [](size_t i) { return static_cast<llama_token>(i); },
            [&](size_t i) { return logits[i]; });
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
  if (!o.logitBias.empty()) {
    llama_sampler_chain_add(chain, llama_sampler_init_logit_bias(llama_vocab_n_tokens(vocab), static_cast<int32_t>(o.logitBias.size()),
                                                                 o.logitBias.data()));
  }
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

llama_token Sampler::sample(llama_context* ctx, int32_t idx, TokenProbabilities* out) {
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
  if (out != nullptr) out->append(token, all.data, all.size);
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
