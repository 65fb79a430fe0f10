#include "context.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>

#ifdef __linux__
#include <pthread.h>
#endif

#include "model.h"
#include "sampler.h"

namespace akachat {

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Bytes at the end of `s` that start an incomplete UTF-8 sequence.
size_t incompleteUtf8Tail(const std::string& s) {
  size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; back++) {
    unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = (c & 0x80) == 0 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

llama_token argmaxToken(llama_context* ctx, int32_t index, int32_t nVocab) {
  const float* logits = llama_get_logits_ith(ctx, index);
  if (logits == nullptr) throw std::runtime_error("The model produced no logits");
  int32_t best = 0;
  for (int32_t i = 1; i < nVocab; i++) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

Napi::Int32Array Int32ArrayArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowError(info.Env(), std::string("Expected an Int32Array for ") + name, "INVALID_ARGUMENT");
  }
  return info[i].As<Napi::Int32Array>();
}

}  // namespace

// ---- job thread -----------------------------------------------------------------------------

void JobThread::post(std::function<void()> job) {
  std::lock_guard<std::mutex> lock(mutex_);
  next_ = std::move(job);
  if (!thread_.joinable()) {
    stopping_ = false;
    thread_ = std::thread([this]() {
#ifdef __linux__
      pthread_setname_np(pthread_self(), "akachat-job");  // shows in top/perf (15 chars max)
#endif
      loop();
    });
  }
  wake_.notify_one();
}

void JobThread::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  auto ready = [this]() { return stopping_ || next_ != nullptr; };
  for (;;) {
    if (!wake_.wait_for(lock, idleGrace_, ready)) {
      lock.unlock();
      onIdle_();
      lock.lock();
      wake_.wait(lock, ready);
    }
    if (!next_) return;  // stopping with nothing left to run
    std::function<void()> job = std::move(next_);
    next_ = nullptr;
    lock.unlock();
    job();
    lock.lock();
  }
}

void JobThread::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

// ---- generation job -------------------------------------------------------------------------

// Generated tokens and, when asked for, their probabilities (TokenProbabilities), in order.
struct TokenRecords {
  std::vector<llama_token> ids;
  TokenProbabilities probs;
  bool empty() const { return ids.empty(); }
  // Moves the first `count` records to the end of `to`.
  void moveFront(size_t count, TokenRecords& to) {
    const size_t perToken = static_cast<size_t>(probs.n);
    const size_t probCount = probs.probs.empty() ? 0 : count * (perToken + 1);
    const size_t idCount = probs.probs.empty() ? 0 : count * perToken;
    to.ids.insert(to.ids.end(), ids.begin(), ids.begin() + static_cast<long>(count));
    to.probs.probs.insert(to.probs.probs.end(), probs.probs.begin(), probs.probs.begin() + static_cast<long>(probCount));
    to.probs.ids.insert(to.probs.ids.end(), probs.ids.begin(), probs.ids.begin() + static_cast<long>(idCount));
    ids.erase(ids.begin(), ids.begin() + static_cast<long>(count));
    probs.probs.erase(probs.probs.begin(), probs.probs.begin() + static_cast<long>(probCount));
    probs.ids.erase(probs.ids.begin(), probs.ids.begin() + static_cast<long>(idCount));
  }
  void clear() {
    ids.clear();
    probs.clear();
  }
};

// Everything a generation needs, copied from JS before the thread starts. Text produced by
// the thread accumulates in `pending` and is handed to JS by at most one queued call at a
// time, so a slow JS consumer gets bigger chunks instead of a growing queue.
struct GenerationJob {
  std::vector<llama_token> prompt;
  SamplerOptions sampling;
  int32_t maxTokens = -1;
  bool ignoreEos = false;
  // Waits for admitDeferred() before taking a slot (slotsMutex_), so requests made together
  // start in the same decode step.
  bool held = false;
  // Hand each chunk's token ids (and probabilities, when asked for) to onText with its text.
  bool wantTokens = false;
  std::vector<std::string> stops;
  AbortFlag abort;

  Napi::ThreadSafeFunction tsfn;  // calls onText(text[, ids, probs, topIds])
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference self;     // keeps the JS context alive while running
  AddonContext* owner = nullptr;

  std::mutex mutex;
  std::string pending;
  TokenRecords pendingTokens;  // of the text in `pending` (wantTokens)
  bool textCallQueued = false;

  // Result, written by the thread before the final call.
  std::string stopReason = "eos";
  std::string error;
  std::string errorCode = "NATIVE_ERROR";
  int32_t promptTokens = 0, reusedTokens = 0, generatedTokens = 0;
  double prefillMs = 0, decodeMs = 0;

  explicit GenerationJob(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}

  // Waking the JS thread steals CPU from the decode threads on small machines (tens of
  // microseconds of decode time per wake-up on a 2-core VM), so text is handed over only
  // while something reads it (`streaming`, set from JS) and then at most every
  // kFlushInterval (the first chunk at once; the rest is flushed by the next token or by
  // Finish).
  static constexpr std::chrono::microseconds kFlushInterval{8000};
  Clock::time_point lastFlush{};
  AbortFlag streaming;

  // Queues `text` and the first `tokenCount` of `tokens` (the tokens that text completes).
  void emit(std::string text, TokenRecords* tokens = nullptr, size_t tokenCount = 0) {
    if (text.empty() && tokenCount == 0) return;
    std::lock_guard<std::mutex> lock(mutex);
    pending += text;
    if (tokenCount > 0) tokens->moveFront(tokenCount, pendingTokens);
    if (text.empty() || textCallQueued || !streaming->load(std::memory_order_relaxed)) return;
    const auto now = Clock::now();
    if (now - lastFlush < kFlushInterval) return;
    lastFlush = now;
    textCallQueued = true;
    auto* holder = new std::shared_ptr<GenerationJob>(shared());
    if (tsfn.NonBlockingCall(holder, DeliverText) != napi_ok) {
      textCallQueued = false;
      delete holder;
    }
  }

  // Hands the pending text (and its tokens) to onText, on the JS thread.
  void deliverPending(Napi::Env env, Napi::Function& fn) {
    std::string text;
    TokenRecords tokens;
    {
      std::lock_guard<std::mutex> lock(mutex);
      textCallQueued = false;
      text.swap(pending);
      std::swap(tokens.ids, pendingTokens.ids);
      std::swap(tokens.probs.probs, pendingTokens.probs.probs);
      std::swap(tokens.probs.ids, pendingTokens.probs.ids);
    }
    if (text.empty() && tokens.empty()) return;
    if (!wantTokens) {
      callJs(env, fn, {Napi::String::New(env, text)});
      return;
    }
    Napi::Int32Array ids = Napi::Int32Array::New(env, tokens.ids.size());
    std::copy(tokens.ids.begin(), tokens.ids.end(), ids.Data());
    Napi::Float32Array probs = Napi::Float32Array::New(env, tokens.probs.probs.size());
    std::copy(tokens.probs.probs.begin(), tokens.probs.probs.end(), probs.Data());
    Napi::Int32Array topIds = Napi::Int32Array::New(env, tokens.probs.ids.size());
    std::copy(tokens.probs.ids.begin(), tokens.probs.ids.end(), topIds.Data());
    callJs(env, fn, {Napi::String::New(env, text), ids, probs, topIds});
  }

  static void DeliverText(Napi::Env env, Napi::Function fn, std::shared_ptr<GenerationJob>* holder) {
    std::shared_ptr<GenerationJob> job = *holder;
    delete holder;
    if (env == nullptr) return;
    job->deliverPending(env, fn);
  }

  static void Finish(Napi::Env env, Napi::Function fn, std::shared_ptr<GenerationJob>* holder) {
    std::shared_ptr<GenerationJob> job = *holder;
    delete holder;
    if (env == nullptr) return;
    Napi::HandleScope scope(env);
    job->deliverPending(env, fn);
    if (job->owner != nullptr) job->owner->generating_--;
    if (!job->error.empty()) {
      job->deferred.Reject(MakeError(env, job->error, job->errorCode).Value());
    } else {
      Napi::Object result = Napi::Object::New(env);
      result.Set("stopReason", job->stopReason);
      result.Set("promptTokens", job->promptTokens);
      result.Set("reusedTokens", job->reusedTokens);
      result.Set("generatedTokens", job->generatedTokens);
      result.Set("prefillMs", job->prefillMs);
      result.Set("decodeMs", job->decodeMs);
      job->deferred.Resolve(result);
    }
    job->self.Reset();
    job->tsfn.Release();
  }

  // Settles the generation on the JS thread (after its last text).
  static void Post(const std::shared_ptr<GenerationJob>& job) {
    auto* holder = new std::shared_ptr<GenerationJob>(job);
    if (job->tsfn.NonBlockingCall(holder, Finish) != napi_ok) delete holder;
  }

  std::weak_ptr<GenerationJob> weakSelf;
  std::shared_ptr<GenerationJob> shared() { return weakSelf.lock(); }
};

// One sequence of a generation context, owned by the decode loop while it runs.
struct Slot {
  llama_seq_id id = 0;
  std::vector<llama_token> cached;  // the tokens in this sequence's KV cells, in order
  uint64_t lastUsed = 0;
  std::shared_ptr<GenerationJob> job;  // null while free
  std::unique_ptr<Sampler> sampler;
  bool greedy = false;
  bool generating = false;  // the whole prompt is in the cache
  size_t prefilled = 0;     // prompt tokens in the cache
  llama_token next = 0;     // sampled, decoded by the next step
  std::string held;         // text not yet emitted: a partial UTF-8 char or a possible stop-string start
  // wantTokens: generated tokens not yet emitted and where each one's text ends in `held`.
  TokenRecords heldTokens;
  std::vector<size_t> heldEnds;
  TokenProbabilities sampled;  // the probabilities of the token being sampled
  Clock::time_point prefillStart{}, decodeStart{};
  int32_t batchAt = -1;     // index of its logits in this step's batch, or -1
  size_t batchCount = 0;    // prompt tokens it has in this step's batch
};

namespace {

// Emits the first `count` bytes of the slot's held text with the tokens that text completes. At a
// stop string (`stopCut`, the rest of the held text dropped), with each token whose text starts
// before it; the others are dropped too.
void emitHeld(Slot& slot, size_t count, bool stopCut) {
  std::vector<size_t>& ends = slot.heldEnds;
  size_t tokens = 0;
  while (tokens < ends.size() && (stopCut ? (tokens == 0 ? 0 : ends[tokens - 1]) < count : ends[tokens] <= count)) tokens++;
  slot.job->emit(slot.held.substr(0, count), &slot.heldTokens, tokens);
  if (stopCut) {
    slot.held.clear();
    slot.heldTokens.clear();
    ends.clear();
    return;
  }
  slot.held.erase(0, count);
  ends.erase(ends.begin(), ends.begin() + static_cast<long>(tokens));
  for (size_t& end : ends) end -= count;
}

}  // namespace

// ---- context creation ----------------------------------------------------------------------------

class CreateContextWorker : public PromiseWorker {
 public:
  CreateContextWorker(Napi::Env env, AddonContext* target, Napi::Object self, Napi::Object opts)
      : PromiseWorker(env, "akachat.createContext"), target_(target), model_(target->model_->model()) {
    code_ = "CONTEXT_CREATE_FAILED";
    self_ = Napi::Persistent(self);
    params_ = llama_context_default_params();
    params_.n_ctx = static_cast<uint32_t>(NumberOpt(opts, "contextSize", 4096));
    params_.n_batch = static_cast<uint32_t>(NumberOpt(opts, "batchSize", 512));
    params_.n_ubatch = std::min<uint32_t>(params_.n_batch, static_cast<uint32_t>(NumberOpt(opts, "microBatchSize", 512)));
    int threads = static_cast<int>(NumberOpt(opts, "threads", 0));
    if (threads > 0) {
      params_.n_threads = threads;
      params_.n_threads_batch = static_cast<int>(NumberOpt(opts, "batchThreads", threads));
    }
    params_.embeddings = BoolOpt(opts, "embeddings", false);
    params_.n_seq_max = static_cast<uint32_t>(NumberOpt(opts, "sequences", 1));
    int pooling = static_cast<int>(NumberOpt(opts, "pooling", -2));  // -2: model's, else mean
    if (params_.embeddings) {
      // Embeddings need a whole sequence in one physical batch (non-causal attention).
      params_.n_ubatch = params_.n_batch;
      if (pooling != -2) params_.pooling_type = static_cast<enum llama_pooling_type>(pooling);
    }
    poolingAuto_ = pooling == -2;
    warmup_ = !params_.embeddings && BoolOpt(opts, "warmup", true);
    std::string flash = StringOpt(opts, "flashAttention", "auto");
    params_.flash_attn_type = flash == "on" ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                              : flash == "off" ? LLAMA_FLASH_ATTN_TYPE_DISABLED : LLAMA_FLASH_ATTN_TYPE_AUTO;
    params_.no_perf = true;
    params_.abort_callback = [](void* data) -> bool {
      auto* ctx = static_cast<AddonContext*>(data);
      if (ctx->closing_.load(std::memory_order_relaxed)) return true;
      std::atomic<bool>* flag = ctx->batchAbort_.load(std::memory_order_relaxed);
      return flag != nullptr && flag->load(std::memory_order_relaxed);
    };
    params_.abort_callback_data = target;
  }

 protected:
  void Run() override {
    llama_context* ctx = llama_init_from_model(model_, params_);
    if (ctx != nullptr && params_.embeddings && poolingAuto_ && llama_pooling_type(ctx) == LLAMA_POOLING_TYPE_NONE) {
      // The model has no pooling of its own (a plain LLM used for embeddings): use mean pooling.
      llama_free(ctx);
      params_.pooling_type = LLAMA_POOLING_TYPE_MEAN;
      ctx = llama_init_from_model(model_, params_);
    }
    if (ctx == nullptr) {
      FailWithLog("Failed to create a context of " + std::to_string(params_.n_ctx) + " tokens");
      return;
    }
    created_.reset(ctx);
    ggml_threadpool_params pool = ggml_threadpool_params_default(static_cast<int>(llama_n_threads(ctx)));
    pool.paused = true;  // no polling before the first job
    threadpool_.reset(ggml_threadpool_new(&pool));
    if (threadpool_) llama_attach_threadpool(ctx, threadpool_.get(), nullptr);
    if (warmup_) warmUp(ctx);
  }

  // As llama.cpp's common_init does: decode BOS and EOS once and forget them, so the first
  // real generation does not pay for faulting in mmapped weights and first-time allocations.
  void warmUp(llama_context* ctx) {
    if (!llama_model_has_decoder(model_) || llama_model_has_encoder(model_)) return;
    const llama_vocab* vocab = llama_model_get_vocab(model_);
    std::vector<llama_token> tokens;
    for (llama_token special : {llama_vocab_bos(vocab), llama_vocab_eos(vocab)}) {
      if (special != LLAMA_TOKEN_NULL) tokens.push_back(special);
    }
    if (tokens.empty()) tokens.push_back(0);
    tokens.resize(std::min<size_t>(tokens.size(), llama_n_batch(ctx)));
    llama_decode(ctx, llama_batch_get_one(tokens.data(), static_cast<int32_t>(tokens.size())));
    llama_memory_clear(llama_get_memory(ctx), true);
    llama_synchronize(ctx);
    if (threadpool_) ggml_threadpool_pause(threadpool_.get());  // idle until the first job
  }

  Napi::Value Resolve(Napi::Env env) override {
    target_->creating_ = false;
    target_->threadpool_ = std::move(threadpool_);
    target_->ctx_ = std::move(created_);
    target_->embeddings_ = params_.embeddings;
    target_->batchSize_ = llama_n_batch(target_->ctx_.get());
    target_->seqMax_ = llama_n_seq_max(target_->ctx_.get());
    target_->slotContext_ = params_.embeddings ? llama_n_ctx(target_->ctx_.get()) : llama_n_ctx_seq(target_->ctx_.get());
    if (!params_.embeddings) {
      for (uint32_t i = 0; i < target_->seqMax_; i++) {
        target_->slots_.push_back(std::make_unique<Slot>());
        target_->slots_.back()->id = static_cast<llama_seq_id>(i);
      }
      target_->views_.resize(target_->seqMax_);
    }
    return env.Undefined();
  }

  void OnError(const Napi::Error& error) override {
    target_->creating_ = false;
    PromiseWorker::OnError(error);
  }

 private:
  AddonContext* target_;
  Napi::ObjectReference self_;
  llama_model* model_;
  llama_context_params params_;
  bool poolingAuto_ = true;
  bool warmup_ = true;
  std::unique_ptr<ggml_threadpool, AddonContext::ThreadpoolDeleter> threadpool_;
  llama_context_ptr created_;  // declared last: freed before the pool it uses
};

// ---- embeddings --------------------------------------------------------------------------------

// Embeds several token sequences, packing as many as fit into one batch (one sequence id
// each). Pooled vectors are L2-normalised.
class EmbedWorker : public PromiseWorker {
 public:
  EmbedWorker(Napi::Env env, AddonContext* target, Napi::Object self, std::vector<std::vector<llama_token>> inputs,
              AbortFlag abort)
      : PromiseWorker(env, "akachat.embed"), target_(target), inputs_(std::move(inputs)), abort_(std::move(abort)) {
    self_ = Napi::Persistent(self);
  }

 protected:
  void Run() override {
    llama_context* ctx = target_->ctx_.get();
    target_->embedAbort_ = abort_;
    target_->batchAbort_ = abort_.get();
    struct AbortGuard { std::atomic<std::atomic<bool>*>& p; ~AbortGuard() { p = nullptr; } } abortGuard{target_->batchAbort_};
    const llama_model* model = llama_get_model(ctx);
    const int nEmbd = llama_model_n_embd(model);
    const uint32_t nBatch = target_->batchSize_;
    const uint32_t seqMax = std::max<uint32_t>(1, target_->seqMax_);
    const bool encoderOnly = llama_model_has_encoder(model) && !llama_model_has_decoder(model);
    const bool pooled = llama_pooling_type(ctx) != LLAMA_POOLING_TYPE_NONE;
    llama_batch batch = llama_batch_init(static_cast<int32_t>(nBatch), 0, 1);
    struct BatchGuard { llama_batch& b; ~BatchGuard() { llama_batch_free(b); } } guard{batch};
    outputs_.assign(inputs_.size(), std::vector<float>(static_cast<size_t>(nEmbd), 0.0f));

    for (size_t i = 0; i < inputs_.size(); i++) {
      if (inputs_[i].empty()) throw std::runtime_error("Text " + std::to_string(i) + " has no tokens to embed");
      if (inputs_[i].size() > nBatch) {
        code_ = "CONTEXT_FULL";
        throw std::runtime_error("Text " + std::to_string(i) + " has " + std::to_string(inputs_[i].size()) +
                                 " tokens but the embedding context takes at most " + std::to_string(nBatch) +
                                 " per text (raise batchSize/contextSize or shorten the text)");
      }
    }
    size_t next = 0;
    while (next < inputs_.size()) {
      if (abort_->load()) {
        code_ = "ABORTED";
        throw std::runtime_error("Embedding was aborted");
      }
      // Fill one batch with whole sequences.
      batch.n_tokens = 0;
      std::vector<size_t> members;
      while (next < inputs_.size() && members.size() < seqMax &&
             batch.n_tokens + inputs_[next].size() <= nBatch) {
        const auto& tokens = inputs_[next];
        const llama_seq_id seq = static_cast<llama_seq_id>(members.size());
        for (size_t p = 0; p < tokens.size(); p++) {
          const int32_t k = batch.n_tokens++;
          batch.token[k] = tokens[p];
          batch.pos[k] = static_cast<llama_pos>(p);
          batch.n_seq_id[k] = 1;
          batch.seq_id[k][0] = seq;
          batch.logits[k] = pooled ? 1 : (p + 1 == tokens.size());
        }
        members.push_back(next++);
      }
      llama_memory_clear(llama_get_memory(ctx), true);
      int32_t rc = encoderOnly ? llama_encode(ctx, batch) : llama_decode(ctx, batch);
      if (rc != 0) {
        if (abort_->load()) {
          code_ = "ABORTED";
          throw std::runtime_error("Embedding was aborted");
        }
        throw std::runtime_error("llama_decode failed with code " + std::to_string(rc));
      }
      for (size_t s = 0; s < members.size(); s++) {
        const float* vec = pooled ? llama_get_embeddings_seq(ctx, static_cast<llama_seq_id>(s)) : nullptr;
        if (vec == nullptr) {
          // Not pooled: the last token's embedding of this sequence.
          int32_t index = -1;
          for (int32_t k = 0; k < batch.n_tokens; k++) {
            if (batch.seq_id[k][0] == static_cast<llama_seq_id>(s) && batch.logits[k]) index = k;
          }
          vec = index >= 0 ? llama_get_embeddings_ith(ctx, index) : nullptr;
        }
        if (vec == nullptr) throw std::runtime_error("The model produced no embedding");
        double norm = 0;
        for (int d = 0; d < nEmbd; d++) norm += static_cast<double>(vec[d]) * vec[d];
        const float scale = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
        auto& out = outputs_[members[s]];
        for (int d = 0; d < nEmbd; d++) out[static_cast<size_t>(d)] = vec[d] * scale;
      }
    }
    llama_memory_clear(llama_get_memory(ctx), true);
    target_->pauseComputeThreads();
  }

  Napi::Value Resolve(Napi::Env env) override {
    target_->finishJob();
    Napi::Array out = Napi::Array::New(env, outputs_.size());
    for (size_t i = 0; i < outputs_.size(); i++) {
      Napi::Float32Array vec = Napi::Float32Array::New(env, outputs_[i].size());
      std::memcpy(vec.Data(), outputs_[i].data(), outputs_[i].size() * sizeof(float));
      out.Set(static_cast<uint32_t>(i), vec);
    }
    return out;
  }

  void OnError(const Napi::Error& error) override {
    target_->finishJob();
    PromiseWorker::OnError(error);
  }

 private:
  AddonContext* target_;
  Napi::ObjectReference self_;
  std::vector<std::vector<llama_token>> inputs_;
  AbortFlag abort_;
  std::vector<std::vector<float>> outputs_;
};

// ---- AddonContext ---------------------------------------------------------------------------------

Napi::Function AddonContext::Init(Napi::Env env) {
  return DefineClass(env, "Context", {
    InstanceMethod<&AddonContext::Create>("create"),
    InstanceMethod<&AddonContext::Generate>("generate"),
    InstanceMethod<&AddonContext::AdmitDeferred>("admitDeferred"),
    InstanceMethod<&AddonContext::Embed>("embed"),
    InstanceMethod<&AddonContext::Info>("info"),
    InstanceMethod<&AddonContext::ClearCache>("clearCache"),
    InstanceMethod<&AddonContext::SaveSlot>("saveSlot"),
    InstanceMethod<&AddonContext::LoadSlot>("loadSlot"),
    InstanceMethod<&AddonContext::Dispose>("dispose"),
  });
}

// new Context(model)
AddonContext::AddonContext(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonContext>(info) {
  Napi::Env env = info.Env();
  AddonData* data = env.GetInstanceData<AddonData>();
  if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(data->modelCtor.Value())) {
    ThrowError(env, "Expected a Model for model", "INVALID_ARGUMENT");
  }
  model_ = AddonModel::Unwrap(info[0].As<Napi::Object>());
  if (!model_->loaded()) ThrowError(env, "Model has been disposed", "DISPOSED");
  modelRef_ = Napi::Persistent(info[0].As<Napi::Object>());
  model_->attach(this);
  data->contexts.insert(this);
}

AddonContext::~AddonContext() {
  release();
  if (AddonData* data = Env().GetInstanceData<AddonData>()) data->contexts.erase(this);
}

void AddonContext::release() {
  closing_ = true;  // the decode loop ends every generation with 'abort' and returns
  if (embedAbort_) embedAbort_->store(true);
  startLoop();  // deferred requests the loop never saw end too
  jobs_.stop();
  ctx_.reset();
  threadpool_.reset();
  slots_.clear();
  if (model_ != nullptr) {
    model_->detach(this);
    model_ = nullptr;
    if (!modelRef_.IsEmpty()) modelRef_.Reset();
  }
}

void AddonContext::finishJob() {
  busy_ = false;
}

void AddonContext::requireReady(Napi::Env env) const {
  if (!ctx_) ThrowError(env, creating_ ? "Context is still being created" : "Context has been disposed", "DISPOSED");
  if (busy_) ThrowError(env, "Context is busy with another embedding; wait for it or abort it", "BUSY");
}

// create(options) -> Promise<void>
Napi::Value AddonContext::Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (model_ == nullptr || !model_->loaded()) ThrowError(env, "Model has been disposed", "DISPOSED");
  if (ctx_ || creating_) ThrowError(env, "Context is already created", "INVALID_STATE");
  auto* worker = new CreateContextWorker(env, this, info.This().As<Napi::Object>(), ObjectArg(info, 0, "options"));
  creating_ = true;
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value AddonContext::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ctx_) ThrowError(env, "Context has been disposed", "DISPOSED");
  Napi::Object out = Napi::Object::New(env);
  out.Set("contextSize", slotContext_);
  out.Set("totalContextSize", llama_n_ctx(ctx_.get()));
  out.Set("batchSize", batchSize_);
  out.Set("sequences", seqMax_);
  out.Set("embeddings", embeddings_);
  out.Set("pooling", static_cast<int>(llama_pooling_type(ctx_.get())));
  std::lock_guard<std::mutex> lock(slotsMutex_);
  size_t cached = 0;
  Napi::Array slots = Napi::Array::New(env, views_.size());
  for (size_t i = 0; i < views_.size(); i++) {
    const SlotView& view = views_[i];
    cached += view.cachedTokens;
    Napi::Object slot = Napi::Object::New(env);
    slot.Set("id", static_cast<double>(i));
    slot.Set("state", view.state);
    slot.Set("cachedTokens", static_cast<double>(view.cachedTokens));
    slot.Set("promptTokens", view.promptTokens);
    slot.Set("generatedTokens", view.generatedTokens);
    slots.Set(static_cast<uint32_t>(i), slot);
  }
  out.Set("cachedTokens", busy_ || generating_ > 0 ? -1.0 : static_cast<double>(cached));
  out.Set("slots", slots);
  out.Set("waiting", static_cast<double>(waiting_.size()));
  out.Set("decodes", static_cast<double>(decodes_));
  out.Set("slotDecodes", static_cast<double>(slotDecodes_));
  return out;
}

Napi::Value AddonContext::ClearCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireReady(env);
  if (generating_ > 0) ThrowError(env, "Context is busy with a generation; wait for it or abort it", "BUSY");
  std::lock_guard<std::mutex> lock(slotsMutex_);
  for (SlotView& view : views_) view.cachedTokens = 0;
  if (loopRunning_) {
    clearRequested_ = true;  // the loop is winding down after its last generation: it clears
  } else {
    llama_memory_clear(llama_get_memory(ctx_.get()), true);
    for (auto& slot : slots_) slot->cached.clear();
    kept_.clear();
    keptBytes_ = 0;
  }
  return env.Undefined();
}

Napi::Value AddonContext::Dispose(const Napi::CallbackInfo& info) {
  release();
  return info.Env().Undefined();
}

// embed(tokenLists: Int32Array[], abortToken?) -> Promise<Float32Array[]>
Napi::Value AddonContext::Embed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireReady(env);
  if (!embeddings_) ThrowError(env, "This context was not created with embeddings: true", "INVALID_STATE");
  if (info.Length() < 1 || !info[0].IsArray()) ThrowError(env, "Expected an array of Int32Array for tokens", "INVALID_ARGUMENT");
  Napi::Array lists = info[0].As<Napi::Array>();
  std::vector<std::vector<llama_token>> inputs;
  for (uint32_t i = 0; i < lists.Length(); i++) {
    Napi::Value v = lists.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      ThrowError(env, "Expected an Int32Array for tokens[" + std::to_string(i) + "]", "INVALID_ARGUMENT");
    }
    Napi::Int32Array arr = v.As<Napi::Int32Array>();
    inputs.emplace_back(arr.Data(), arr.Data() + arr.ElementLength());
  }
  auto* worker = new EmbedWorker(env, this, info.This().As<Napi::Object>(), std::move(inputs),
                                 AbortToken::FromValue(info.Length() > 1 ? info[1] : env.Undefined()));
  busy_ = true;
  pauseIdleContexts(env);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// generate(prompt: Int32Array, options, onText(text), abortToken?) -> Promise<result>
Napi::Value AddonContext::Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireReady(env);
  if (embeddings_) ThrowError(env, "This context was created for embeddings; create another one to generate", "INVALID_STATE");
  Napi::Int32Array prompt = Int32ArrayArg(info, 0, "prompt");
  Napi::Object opts = ObjectArg(info, 1, "options");
  if (info.Length() < 3 || !info[2].IsFunction()) ThrowError(env, "Expected a function for onText", "INVALID_ARGUMENT");

  auto job = std::make_shared<GenerationJob>(env);
  job->weakSelf = job;
  job->prompt.assign(prompt.Data(), prompt.Data() + prompt.ElementLength());
  job->sampling = SamplerOptions::FromObject(opts, model_->vocab());
  job->maxTokens = static_cast<int32_t>(NumberOpt(opts, "maxTokens", -1));
  job->ignoreEos = BoolOpt(opts, "ignoreEos", false);
  job->held = BoolOpt(opts, "defer", false);
  job->wantTokens = BoolOpt(opts, "tokens", false) || job->sampling.probabilities > 0;
  Napi::Value stops = opts.Get("stop");
  if (stops.IsArray()) {
    Napi::Array arr = stops.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value s = arr.Get(i);
      if (s.IsString() && !s.As<Napi::String>().Utf8Value().empty()) job->stops.push_back(s.As<Napi::String>().Utf8Value());
    }
  }
  job->abort = AbortToken::FromValue(info.Length() > 3 ? info[3] : env.Undefined());
  job->streaming = AbortToken::StreamFlagFromValue(info.Length() > 3 ? info[3] : env.Undefined());
  job->owner = this;
  job->self = Napi::Persistent(info.This().As<Napi::Object>());
  job->tsfn = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "akachat.generate", 0, 1);

  const int32_t nVocab = llama_vocab_n_tokens(model_->vocab());
  for (size_t i = 0; i < job->prompt.size(); i++) {
    if (job->prompt[i] < 0 || job->prompt[i] >= nVocab) {
      job->tsfn.Release();
      ThrowError(env, "Prompt token " + std::to_string(job->prompt[i]) + " at index " + std::to_string(i) +
                          " is outside the vocabulary", "INVALID_ARGUMENT");
    }
  }
  generating_++;
  pauseIdleContexts(env);
  Napi::Promise promise = job->deferred.Promise();
  {
    std::lock_guard<std::mutex> lock(slotsMutex_);
    waiting_.push_back(job);
  }
  startLoop();
  return promise;
}

// admitDeferred(): the requests made with `defer` so far may take slots, all in the next step.
// Requests made in one turn of the JS event loop are deferred together, so their prompts are
// decoded in one batch and they generate in step, instead of the first starting alone while
// the others are still being made (one decode step more for each of them).
Napi::Value AddonContext::AdmitDeferred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ctx_) return env.Undefined();  // disposed meanwhile: release() ended them
  {
    std::lock_guard<std::mutex> lock(slotsMutex_);
    for (auto& job : waiting_) job->held = false;
  }
  startLoop();
  return env.Undefined();
}

// Starts the decode loop unless it runs already or may do nothing yet (requests still held).
void AddonContext::startLoop() {
  {
    std::lock_guard<std::mutex> lock(slotsMutex_);
    const bool admissible = !waiting_.empty() && (closing_.load() || !waiting_.front()->held);
    if (loopRunning_ || (stateOps_.empty() && !admissible)) return;
    loopRunning_ = true;
  }
  jobs_.post([this]() { runSlots(); });
}

// ---- decode loop ------------------------------------------------------------------------------

// Saving or restoring one slot's KV cells, run by the decode loop once that slot is free.
struct StateOp {
  bool save = false;
  size_t slot = 0;
  std::string path;
  Napi::Promise::Deferred deferred;
  Napi::ThreadSafeFunction tsfn;
  Napi::ObjectReference self;  // keeps the JS context alive until settled
  std::string error;
  std::vector<llama_token> tokens;  // saved or restored

  explicit StateOp(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}

  static void Post(const std::shared_ptr<StateOp>& op) {
    auto* holder = new std::shared_ptr<StateOp>(op);
    if (op->tsfn.NonBlockingCall(holder, Settle) != napi_ok) delete holder;
  }

  static void Settle(Napi::Env env, Napi::Function, std::shared_ptr<StateOp>* holder) {
    std::shared_ptr<StateOp> op = *holder;
    delete holder;
    if (env == nullptr) return;
    Napi::HandleScope scope(env);
    if (op->error.empty()) {
      Napi::Int32Array tokens = Napi::Int32Array::New(env, op->tokens.size());
      std::copy(op->tokens.begin(), op->tokens.end(), tokens.Data());
      op->deferred.Resolve(tokens);
    } else {
      op->deferred.Reject(MakeError(env, op->error, "NATIVE_ERROR").Value());
    }
    op->self.Reset();
    op->tsfn.Release();
  }
};

namespace {

size_t commonPrefix(const std::vector<llama_token>& a, const std::vector<llama_token>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) n++;
  return n;
}

void batchAdd(llama_batch& batch, llama_token token, llama_pos pos, llama_seq_id seq, bool logits) {
  const int32_t i = batch.n_tokens++;
  batch.token[i] = token;
  batch.pos[i] = pos;
  batch.n_seq_id[i] = 1;
  batch.seq_id[i][0] = seq;
  batch.logits[i] = logits;
}

// llama-server's slot choice: the free slot whose cache shares the longest prefix with the
// prompt when that prefix is more than a tenth of the prompt, else the free slot used least
// recently, so a new persona does not evict another's prefix while an older slot is free.
Slot* pickSlot(const std::vector<std::unique_ptr<Slot>>& slots, const std::vector<llama_token>& prompt) {
  Slot* best = nullptr;
  Slot* oldest = nullptr;
  size_t bestPrefix = 0;
  for (const auto& slot : slots) {
    if (slot->job) continue;
    const size_t prefix = commonPrefix(slot->cached, prompt);
    if (prefix > bestPrefix) { best = slot.get(); bestPrefix = prefix; }
    if (oldest == nullptr || slot->lastUsed < oldest->lastUsed) oldest = slot.get();
  }
  return best != nullptr && bestPrefix * 10 > prompt.size() ? best : oldest;
}

}  // namespace

// Runs on the job thread while any slot is active or a request waits; never touches JS. Each
// generation ends with exactly one Finish call.
void AddonContext::runSlots() {
  llama_context* ctx = ctx_.get();
  llama_memory_t mem = llama_get_memory(ctx);
  llama_batch batch = llama_batch_init(static_cast<int32_t>(std::max<size_t>(batchSize_, slots_.size())), 0, 1);
  struct BatchGuard { llama_batch& b; ~BatchGuard() { llama_batch_free(b); } } guard{batch};
  std::vector<Slot*> inBatch;
  for (;;) {
    // Admission: aborted requests leave the line, the rest take free slots in arrival order.
    std::vector<std::pair<Slot*, std::shared_ptr<GenerationJob>>> placed;
    std::vector<std::shared_ptr<StateOp>> ops;
    {
      std::lock_guard<std::mutex> lock(slotsMutex_);
      if (clearRequested_) {
        clearRequested_ = false;
        llama_memory_clear(mem, true);
        for (auto& slot : slots_) slot->cached.clear();
        kept_.clear();
        keptBytes_ = 0;
      }
      const bool closing = closing_.load();
      for (auto it = stateOps_.begin(); it != stateOps_.end();) {
        if (closing) {
          (*it)->error = "Context has been disposed";
          StateOp::Post(*it);
        } else if (!slots_[(*it)->slot]->job) {
          ops.push_back(*it);
        } else {
          ++it;
          continue;
        }
        it = stateOps_.erase(it);
      }
      for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (closing || (*it)->abort->load()) {
          (*it)->promptTokens = static_cast<int32_t>((*it)->prompt.size());
          (*it)->stopReason = "abort";
          GenerationJob::Post(*it);
          it = waiting_.erase(it);
        } else {
          ++it;
        }
      }
      // After the state ops, which change what slots hold; in arrival order, so not past a
      // request still held.
      while (ops.empty() && !waiting_.empty() && !waiting_.front()->held) {
        Slot* slot = pickSlot(slots_, waiting_.front()->prompt);
        if (slot == nullptr) break;
        slot->job = waiting_.front();  // taken: the next pick skips it
        placed.emplace_back(slot, std::move(waiting_.front()));
        waiting_.erase(waiting_.begin());
      }
      bool active = false;
      for (auto& slot : slots_) active = active || slot->job != nullptr;
      if (!active && ops.empty()) {  // requests still held wait for admitDeferred to start it
        loopRunning_ = false;
        return;
      }
    }
    if (!ops.empty()) {
      for (auto& op : ops) runStateOp(*op);
      publishSlots();
      for (auto& op : ops) StateOp::Post(op);
      continue;
    }
    try {
      for (auto& [slot, job] : placed) admit(*slot, std::move(job));

      // One batch: the next token of every generating slot, then prompt chunks while room is left.
      batch.n_tokens = 0;
      inBatch.clear();
      for (auto& slot : slots_) {
        if (!slot->job) continue;
        if (closing_.load() || slot->job->abort->load()) { finishSlot(*slot, "abort"); continue; }
        if (!slot->generating) continue;
        slot->batchAt = batch.n_tokens;
        batchAdd(batch, slot->next, static_cast<llama_pos>(slot->cached.size()), slot->id, true);
        inBatch.push_back(slot.get());
      }
      for (auto& slot : slots_) {
        const int32_t room = static_cast<int32_t>(batchSize_) - batch.n_tokens;
        if (room <= 0) break;
        if (!slot->job || slot->generating) continue;
        const auto& prompt = slot->job->prompt;
        const size_t count = std::min<size_t>(static_cast<size_t>(room), prompt.size() - slot->prefilled);
        const bool last = slot->prefilled + count == prompt.size();
        for (size_t i = 0; i < count; i++) {
          const size_t at = slot->prefilled + i;
          batchAdd(batch, prompt[at], static_cast<llama_pos>(at), slot->id, last && i + 1 == count);
        }
        slot->batchAt = last ? batch.n_tokens - 1 : -1;
        slot->batchCount = count;
        inBatch.push_back(slot.get());
      }
      if (batch.n_tokens == 0) continue;

      // llama's abort callback can stop a decode only for the one generation it serves.
      batchAbort_ = inBatch.size() == 1 ? inBatch[0]->job->abort.get() : nullptr;
      clearRecentErrors();
      const int32_t rc = llama_decode(ctx, batch);
      batchAbort_ = nullptr;
      {
        std::lock_guard<std::mutex> lock(slotsMutex_);
        decodes_++;
        slotDecodes_ += inBatch.size();
      }
      if (rc != 0) {
        for (Slot* slot : inBatch) {
          // A failed or aborted decode may leave part of the batch in the cache: trim it back.
          if (!llama_memory_seq_rm(mem, slot->id, static_cast<llama_pos>(slot->cached.size()), -1)) {
            llama_memory_seq_rm(mem, slot->id, -1, -1);
            slot->cached.clear();
          }
          if (closing_.load() || slot->job->abort->load()) {
            finishSlot(*slot, "abort");
          } else {
            failSlot(*slot, std::string(slot->generating ? "Decoding failed" : "Prompt decoding failed") +
                                " (llama_decode returned " + std::to_string(rc) + ")", "NATIVE_ERROR");
          }
        }
        continue;
      }
      for (Slot* slot : inBatch) {
        if (slot->generating) {
          slot->cached.push_back(slot->next);
        } else {
          const auto& prompt = slot->job->prompt;
          slot->cached.insert(slot->cached.end(), prompt.begin() + static_cast<long>(slot->prefilled),
                              prompt.begin() + static_cast<long>(slot->prefilled + slot->batchCount));
          slot->prefilled += slot->batchCount;
          if (slot->batchAt < 0) continue;  // more prompt to come
          slot->job->prefillMs = msSince(slot->prefillStart);
          slot->generating = true;
          slot->decodeStart = Clock::now();
        }
        advance(*slot, slot->batchAt);
      }
      publishSlots();
    } catch (const std::exception& e) {
      std::string reason = recentErrors();
      for (auto& slot : slots_) {
        if (slot->job) failSlot(*slot, std::string(e.what()) + (reason.empty() ? "" : ": " + reason), "NATIVE_ERROR");
      }
    }
  }
}

// Loop thread, with the slot free. A restored slot holds the saved tokens, so the next request
// sharing their prefix is placed there and reuses them.
void AddonContext::runStateOp(StateOp& op) {
  Slot& slot = *slots_[op.slot];
  llama_context* ctx = ctx_.get();
  clearRecentErrors();
  if (op.save) {
    if (slot.cached.empty()) {
      op.error = "Slot " + std::to_string(op.slot) + " holds no tokens to save";
    } else if (llama_state_seq_save_file(ctx, op.path.c_str(), slot.id, slot.cached.data(), slot.cached.size()) == 0) {
      op.error = "Could not write the KV state of slot " + std::to_string(op.slot) + " to " + op.path;
    } else {
      op.tokens = slot.cached;
    }
  } else {
    llama_memory_t mem = llama_get_memory(ctx);
    llama_memory_seq_rm(mem, slot.id, -1, -1);
    slot.cached.clear();
    std::vector<llama_token> tokens(slotContext_);
    size_t count = 0;
    if (llama_state_seq_load_file(ctx, op.path.c_str(), slot.id, tokens.data(), tokens.size(), &count) == 0) {
      llama_memory_seq_rm(mem, slot.id, -1, -1);  // nothing half-loaded stays
      std::string reason = recentErrors();
      op.error = "Could not load the KV state from " + op.path + " (missing, corrupt, or saved for another model or slot size)" +
                 (reason.empty() ? "" : ": " + reason);
    } else {
      slot.cached.assign(tokens.begin(), tokens.begin() + static_cast<long>(count));
      op.tokens = slot.cached;
    }
  }
  slot.lastUsed = ++useClock_;
}

// saveSlot(slot, path) / loadSlot(slot, path) -> Promise<Int32Array: the tokens saved / restored>
Napi::Value AddonContext::SaveSlot(const Napi::CallbackInfo& info) { return QueueStateOp(info, true); }
Napi::Value AddonContext::LoadSlot(const Napi::CallbackInfo& info) { return QueueStateOp(info, false); }

Napi::Value AddonContext::QueueStateOp(const Napi::CallbackInfo& info, bool save) {
  Napi::Env env = info.Env();
  requireReady(env);
  if (embeddings_) ThrowError(env, "An embedding context has no slots", "INVALID_STATE");
  if (info.Length() < 1 || !info[0].IsNumber() || info[0].As<Napi::Number>().DoubleValue() < 0 ||
      info[0].As<Napi::Number>().DoubleValue() >= static_cast<double>(slots_.size())) {
    ThrowError(env, "Expected a slot number below " + std::to_string(slots_.size()) + " for slot", "INVALID_ARGUMENT");
  }
  auto op = std::make_shared<StateOp>(env);
  op->save = save;
  op->slot = static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue());
  op->path = StringArg(info, 1, "path");
  op->self = Napi::Persistent(info.This().As<Napi::Object>());
  op->tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "akachat.slotState", 0, 1);
  Napi::Promise promise = op->deferred.Promise();
  {
    std::lock_guard<std::mutex> lock(slotsMutex_);
    stateOps_.push_back(op);
  }
  startLoop();
  return promise;
}

// Places a request on a slot: keeps the longest common prefix of the slot's cache (at least one
// prompt token is decoded, for logits) and sets up its sampler.
void AddonContext::admit(Slot& slot, std::shared_ptr<GenerationJob> job) {
  slot.job = std::move(job);
  GenerationJob& j = *slot.job;
  const auto& prompt = j.prompt;
  j.promptTokens = static_cast<int32_t>(prompt.size());
  slot.generating = false;
  slot.held.clear();
  slot.heldTokens.probs.n = j.sampling.probabilities;
  slot.sampled.n = j.sampling.probabilities;
  if (prompt.empty()) return failSlot(slot, "The prompt has no tokens", "INVALID_ARGUMENT");
  if (prompt.size() >= slotContext_) {
    const std::string holder = slots_.size() == 1 ? "the context holds " : "each of the context's " + std::to_string(slots_.size()) + " slots holds ";
    return failSlot(slot, "The prompt has " + std::to_string(prompt.size()) + " tokens but " + holder +
                              std::to_string(slotContext_) + " (at least one must stay free for generation): shorten the prompt or "
                              "create the context with a larger contextSize",
                    "CONTEXT_FULL");
  }
  llama_memory_t mem = llama_get_memory(ctx_.get());
  size_t reuse = commonPrefix(slot.cached, prompt);
  keepEvicted(slot, reuse);
  restoreKept(slot, reuse);
  copyLongerPrefix(slot, reuse);
  if (reuse == prompt.size()) reuse--;
  if (!llama_memory_seq_rm(mem, slot.id, static_cast<llama_pos>(reuse), -1)) {
    llama_memory_seq_rm(mem, slot.id, -1, -1);  // e.g. recurrent state: cannot cut, start over
    reuse = 0;
  }
  slot.cached.resize(reuse);
  slot.prefilled = reuse;
  j.reusedTokens = static_cast<int32_t>(reuse);
  slot.greedy = j.sampling.isPlainGreedy();
  slot.sampler = std::make_unique<Sampler>(j.sampling, model_->vocab(), prompt);
  slot.prefillStart = Clock::now();
}

// Before a request takes over a slot and keeps less than half of its tokens, keeps them (their KV
// cells) in host memory, least recently used dropped first beyond kKeptBytes.
void AddonContext::keepEvicted(const Slot& slot, size_t reuse) {
  // A request that keeps most of the slot (the same conversation going on) evicts nothing worth it.
  if (reuse * 2 >= slot.cached.size()) return;
  for (KeptPrompt& kept : kept_) {
    if (commonPrefix(kept.tokens, slot.cached) == slot.cached.size()) {  // already kept (or more)
      kept.lastUsed = ++useClock_;
      return;
    }
  }
  llama_context* ctx = ctx_.get();
  const size_t size = llama_state_seq_get_size(ctx, slot.id);
  if (size == 0 || size > kKeptBytes) return;
  KeptPrompt kept;
  kept.state.resize(size);
  if (llama_state_seq_get_data(ctx, kept.state.data(), size, slot.id) != size) return;
  kept.tokens = slot.cached;
  kept.lastUsed = ++useClock_;
  // Entries this one extends are no longer needed.
  for (auto it = kept_.begin(); it != kept_.end();) {
    if (commonPrefix(it->tokens, kept.tokens) == it->tokens.size()) {
      keptBytes_ -= it->state.size();
      it = kept_.erase(it);
    } else {
      ++it;
    }
  }
  while (!kept_.empty() && keptBytes_ + size > kKeptBytes) {
    auto oldest = std::min_element(kept_.begin(), kept_.end(), [](const KeptPrompt& a, const KeptPrompt& b) { return a.lastUsed < b.lastUsed; });
    keptBytes_ -= oldest->state.size();
    kept_.erase(oldest);
  }
  keptBytes_ += size;
  kept_.push_back(std::move(kept));
}

// When a kept prompt shares a longer prefix with this slot's prompt than the slot holds, restores
// it into the slot. A state that does not load leaves the slot empty.
void AddonContext::restoreKept(Slot& slot, size_t& reuse) {
  const auto& prompt = slot.job->prompt;
  KeptPrompt* best = nullptr;
  size_t longest = reuse;
  for (KeptPrompt& kept : kept_) {
    const size_t prefix = commonPrefix(kept.tokens, prompt);
    if (prefix > longest && (prefix - reuse) * kRestoredPerGain >= kept.tokens.size()) { best = &kept; longest = prefix; }
  }
  if (best == nullptr) return;
  llama_context* ctx = ctx_.get();
  llama_memory_t mem = llama_get_memory(ctx);
  llama_memory_seq_rm(mem, slot.id, -1, -1);
  if (llama_state_seq_set_data(ctx, best->state.data(), best->state.size(), slot.id) != best->state.size()) {
    llama_memory_seq_rm(mem, slot.id, -1, -1);
    slot.cached.clear();
    reuse = 0;
    return;
  }
  best->lastUsed = ++useClock_;
  slot.cached = best->tokens;
  reuse = longest;
}

// When another slot (running or not) holds a longer prefix of this slot's prompt, copies its
// KV cells over instead of decoding them again: the same persona asked twice at once decodes
// its prefix once. Between sequences of separate KV streams llama.cpp copies whole streams, so
// the copy is cut back to the shared prefix afterwards.
void AddonContext::copyLongerPrefix(Slot& slot, size_t& reuse) {
  const auto& prompt = slot.job->prompt;
  Slot* source = nullptr;
  size_t longest = reuse;
  for (auto& other : slots_) {
    if (other.get() == &slot) continue;
    const size_t prefix = commonPrefix(other->cached, prompt);
    if (prefix > longest) { source = other.get(); longest = prefix; }
  }
  if (source == nullptr || longest < kMinCopiedPrefix || longest - reuse < kMinCopiedPrefix) return;
  llama_memory_t mem = llama_get_memory(ctx_.get());
  llama_memory_seq_rm(mem, slot.id, -1, -1);
  llama_memory_seq_cp(mem, source->id, slot.id, -1, -1);
  if (!llama_memory_seq_rm(mem, slot.id, static_cast<llama_pos>(longest), -1)) {
    llama_memory_seq_rm(mem, slot.id, -1, -1);
    slot.cached.clear();
    reuse = 0;
    return;
  }
  slot.cached.assign(source->cached.begin(), source->cached.begin() + static_cast<long>(longest));
  reuse = longest;
}

// Samples a slot's next token from the logits at `logitsIndex` and hands its text over; ends
// the generation on end-of-generation, a stop string, maxTokens, abort or a full slot.
void AddonContext::advance(Slot& slot, int32_t logitsIndex) {
  GenerationJob& job = *slot.job;
  if (job.maxTokens >= 0 && job.generatedTokens >= job.maxTokens) { finishSlot(slot, "maxTokens"); return; }
  if (job.abort->load()) { finishSlot(slot, "abort"); return; }
  const llama_vocab* vocab = model_->vocab();
  const int32_t nVocab = llama_vocab_n_tokens(vocab);
  TokenProbabilities* probs = job.sampling.probabilities > 0 ? &slot.sampled : nullptr;
  const bool fromLogits = probs != nullptr && (slot.greedy || !job.sampling.postSamplingProbabilities);
  // Greedy without penalties needs no candidate list: take the argmax of the logits.
  llama_token token;
  try {
    token = slot.greedy ? argmaxToken(ctx_.get(), logitsIndex, nVocab)
                        : slot.sampler->sample(ctx_.get(), logitsIndex, fromLogits ? nullptr : probs);
    if (fromLogits) probs->appendFromLogits(token, llama_get_logits_ith(ctx_.get(), logitsIndex), nVocab);
  } catch (const std::exception& e) {
    // A grammar that no token of the vocabulary can continue: this generation fails, not the batch.
    failSlot(slot, "Sampling failed after " + std::to_string(job.generatedTokens) + " tokens: " + e.what(), "INVALID_ARGUMENT");
    return;
  }
  const bool eog = llama_vocab_is_eog(vocab, token);
  if (eog && !job.ignoreEos) { finishSlot(slot, "eos"); return; }
  job.generatedTokens++;
  std::string& held = slot.held;
  if (!eog) held += model_->tokenText(token, false);
  if (job.wantTokens) {
    slot.heldTokens.ids.push_back(token);
    slot.heldEnds.push_back(held.size());
    if (probs != nullptr) {
      slot.heldTokens.probs.probs.insert(slot.heldTokens.probs.probs.end(), probs->probs.begin(), probs->probs.end());
      slot.heldTokens.probs.ids.insert(slot.heldTokens.probs.ids.end(), probs->ids.begin(), probs->ids.end());
    }
  }
  if (probs != nullptr) probs->clear();

  // Stop strings may span tokens: search the held text.
  size_t stopAt = std::string::npos;
  for (const auto& s : job.stops) stopAt = std::min(stopAt, held.find(s));
  if (stopAt != std::string::npos) {
    emitHeld(slot, stopAt, true);
    finishSlot(slot, "stop");
    return;
  }
  // Emit all but an incomplete UTF-8 tail and the longest suffix that starts a stop string.
  size_t keep = incompleteUtf8Tail(held);
  for (const auto& s : job.stops) {
    for (size_t k = std::min(s.size() - 1, held.size()); k > keep; k--) {
      if (held.compare(held.size() - k, k, s, 0, k) == 0) { keep = k; break; }
    }
  }
  if (held.size() > keep) emitHeld(slot, held.size() - keep, false);
  // No need to decode the last token.
  if (job.maxTokens >= 0 && job.generatedTokens >= job.maxTokens) { finishSlot(slot, "maxTokens"); return; }
  if (slot.cached.size() + 1 >= slotContext_) { finishSlot(slot, "contextFull"); return; }
  slot.next = token;
}

// Ends a slot's generation: flushes its held text (not after a stop string) and frees the slot.
void AddonContext::finishSlot(Slot& slot, const char* stopReason) {
  GenerationJob& job = *slot.job;
  job.stopReason = stopReason;
  if (job.stopReason != "stop") {
    slot.held.resize(slot.held.size() - incompleteUtf8Tail(slot.held));
    job.emit(slot.held, &slot.heldTokens, slot.heldTokens.ids.size());
  }
  if (slot.generating) {
    job.decodeMs = msSince(slot.decodeStart);
  } else {
    job.prefillMs = msSince(slot.prefillStart);
  }
  freeSlot(slot);
}

void AddonContext::failSlot(Slot& slot, const std::string& message, const char* code) {
  GenerationJob& job = *slot.job;
  job.error = message;
  job.errorCode = code;
  if (job.errorCode == "NATIVE_ERROR") {
    std::string reason = recentErrors();
    if (!reason.empty() && job.error.find(reason) == std::string::npos) job.error += ": " + reason;
  }
  if (slot.generating) job.decodeMs = msSince(slot.decodeStart);
  freeSlot(slot);
}

// Frees a slot at once (its cache stays for prefix reuse) and settles its generation.
void AddonContext::freeSlot(Slot& slot) {
  std::shared_ptr<GenerationJob> job = std::move(slot.job);
  slot.sampler.reset();
  slot.held.clear();
  slot.heldTokens.clear();
  slot.heldEnds.clear();
  slot.sampled.clear();  // e.g. of an end-of-generation token, which is not handed out
  slot.generating = false;
  slot.lastUsed = ++useClock_;
  publishSlots();  // before JS hears of the end, so `info` then shows the freed slot
  GenerationJob::Post(job);
}

void AddonContext::publishSlots() {
  std::lock_guard<std::mutex> lock(slotsMutex_);
  for (size_t i = 0; i < slots_.size(); i++) {
    const Slot& slot = *slots_[i];
    SlotView& view = views_[i];
    view.state = !slot.job ? "idle" : slot.generating ? "generating" : "prompt";
    view.cachedTokens = slot.cached.size();
    view.promptTokens = slot.job ? slot.job->promptTokens : 0;
    view.generatedTokens = slot.job ? slot.job->generatedTokens : 0;
  }
}

// Idle compute threads sleep instead of polling for the next graph (llama.cpp wakes them on
// the next decode).
void AddonContext::pauseComputeThreads() {
  if (threadpool_) ggml_threadpool_pause(threadpool_.get());
}

// Another context's threads still polling after its last job would take cores from this one.
void AddonContext::pauseIdleContexts(Napi::Env env) {
  for (AddonContext* other : env.GetInstanceData<AddonData>()->contexts) {
    if (other != this && other->idle()) other->pauseComputeThreads();
  }
}

}  // namespace akachat
