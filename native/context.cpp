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

llama_token argmaxToken(llama_context* ctx, int32_t nVocab) {
  const float* logits = llama_get_logits_ith(ctx, -1);
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

// Everything a generation needs, copied from JS before the thread starts. Text produced by
// the thread accumulates in `pending` and is handed to JS by at most one queued call at a
// time, so a slow JS consumer gets bigger chunks instead of a growing queue.
struct GenerationJob {
  std::vector<llama_token> prompt;
  SamplerOptions sampling;
  int32_t maxTokens = -1;
  bool ignoreEos = false;
  std::vector<std::string> stops;
  AbortFlag abort;

  Napi::ThreadSafeFunction tsfn;  // calls onText(text)
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference self;     // keeps the JS context alive while running
  AddonContext* owner = nullptr;

  std::mutex mutex;
  std::string pending;
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

  void emit(std::string text) {
    if (text.empty()) return;
    std::lock_guard<std::mutex> lock(mutex);
    pending += text;
    if (textCallQueued || !streaming->load(std::memory_order_relaxed)) return;
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

  std::string takePending() {
    std::lock_guard<std::mutex> lock(mutex);
    textCallQueued = false;
    std::string out;
    out.swap(pending);
    return out;
  }

  static void DeliverText(Napi::Env env, Napi::Function fn, std::shared_ptr<GenerationJob>* holder) {
    std::shared_ptr<GenerationJob> job = *holder;
    delete holder;
    if (env == nullptr) return;
    std::string text = job->takePending();
    if (!text.empty()) fn.Call({Napi::String::New(env, text)});
  }

  static void Finish(Napi::Env env, Napi::Function fn, std::shared_ptr<GenerationJob>* holder) {
    std::shared_ptr<GenerationJob> job = *holder;
    delete holder;
    if (env == nullptr) return;
    Napi::HandleScope scope(env);
    std::string text = job->takePending();
    if (!text.empty()) fn.Call({Napi::String::New(env, text)});
    if (job->owner != nullptr) job->owner->finishJob();
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

  std::weak_ptr<GenerationJob> weakSelf;
  std::shared_ptr<GenerationJob> shared() { return weakSelf.lock(); }
};

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
      return ctx->jobAbort_ && ctx->jobAbort_->load(std::memory_order_relaxed);
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
    target_->jobAbort_ = abort_;
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
    InstanceMethod<&AddonContext::Embed>("embed"),
    InstanceMethod<&AddonContext::Info>("info"),
    InstanceMethod<&AddonContext::ClearCache>("clearCache"),
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
  if (jobAbort_) jobAbort_->store(true);
  jobs_.stop();
  ctx_.reset();
  threadpool_.reset();
  cached_.clear();
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
  if (busy_) ThrowError(env, "Context is busy with another generation or embedding; wait for it or abort it", "BUSY");
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
  out.Set("contextSize", llama_n_ctx(ctx_.get()));
  out.Set("batchSize", batchSize_);
  out.Set("sequences", seqMax_);
  out.Set("embeddings", embeddings_);
  out.Set("pooling", static_cast<int>(llama_pooling_type(ctx_.get())));
  out.Set("cachedTokens", static_cast<double>(busy_ ? -1 : static_cast<double>(cached_.size())));
  return out;
}

Napi::Value AddonContext::ClearCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireReady(env);
  llama_memory_clear(llama_get_memory(ctx_.get()), true);
  cached_.clear();
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
  cached_.clear();  // embedding clears the KV cache
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
  job->sampling = SamplerOptions::FromObject(opts);
  job->maxTokens = static_cast<int32_t>(NumberOpt(opts, "maxTokens", -1));
  job->ignoreEos = BoolOpt(opts, "ignoreEos", false);
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
  busy_ = true;
  jobAbort_ = job->abort;
  pauseIdleContexts(env);
  Napi::Promise promise = job->deferred.Promise();
  jobs_.post([this, job]() { runGeneration(job); });
  return promise;
}

// Runs on the generation thread. Never touches JS; ends with exactly one Finish call.
void AddonContext::runGeneration(const std::shared_ptr<GenerationJob>& job) {
  clearRecentErrors();
  llama_context* ctx = ctx_.get();
  const llama_vocab* vocab = model_->vocab();
  llama_memory_t mem = llama_get_memory(ctx);
  const auto& prompt = job->prompt;
  const size_t nCtx = llama_n_ctx(ctx);
  job->promptTokens = static_cast<int32_t>(prompt.size());

  auto fail = [&](const std::string& message, const char* code) {
    job->error = message;
    job->errorCode = code;
  };
  // After a failed or aborted decode the cache may hold part of a batch: trim it back.
  auto trimCache = [&]() {
    if (!llama_memory_seq_rm(mem, 0, static_cast<llama_pos>(cached_.size()), -1)) {
      llama_memory_clear(mem, true);
      cached_.clear();
    }
  };

  try {
    if (prompt.empty()) {
      fail("The prompt has no tokens", "INVALID_ARGUMENT");
    } else if (prompt.size() >= nCtx) {
      fail("The prompt has " + std::to_string(prompt.size()) + " tokens but the context holds " +
               std::to_string(nCtx) + " (at least one must stay free for generation): shorten the prompt or "
               "create the context with a larger contextSize",
           "CONTEXT_FULL");
    } else {
      // Reuse the longest common prefix; at least one prompt token is decoded for logits.
      size_t reuse = 0;
      while (reuse < cached_.size() && reuse < prompt.size() && cached_[reuse] == prompt[reuse]) reuse++;
      if (reuse == prompt.size()) reuse--;
      if (!llama_memory_seq_rm(mem, 0, static_cast<llama_pos>(reuse), -1)) {
        llama_memory_clear(mem, true);  // e.g. recurrent state: cannot cut, start over
        reuse = 0;
      }
      cached_.resize(reuse);
      job->reusedTokens = static_cast<int32_t>(reuse);

      auto prefillStart = Clock::now();
      for (size_t i = reuse; i < prompt.size() && job->error.empty();) {
        if (job->abort->load()) break;
        const size_t count = std::min<size_t>(batchSize_, prompt.size() - i);
        int32_t rc = llama_decode(ctx, llama_batch_get_one(const_cast<llama_token*>(&prompt[i]), static_cast<int32_t>(count)));
        if (rc != 0) {
          trimCache();
          if (!job->abort->load()) fail("Prompt decoding failed (llama_decode returned " + std::to_string(rc) + ")", "NATIVE_ERROR");
          break;
        }
        cached_.insert(cached_.end(), prompt.begin() + static_cast<long>(i), prompt.begin() + static_cast<long>(i + count));
        i += count;
      }
      job->prefillMs = msSince(prefillStart);

      if (job->error.empty() && job->abort->load()) {
        job->stopReason = "abort";
      } else if (job->error.empty()) {
        const bool greedy = job->sampling.isPlainGreedy();
        const int32_t nVocab = llama_vocab_n_tokens(vocab);
        llama_sampler_ptr sampler(buildSampler(job->sampling, vocab));
        // Repetition penalties also see the end of the prompt.
        const size_t window = static_cast<size_t>(std::max(0, job->sampling.repeatLastN));
        for (size_t i = prompt.size() > window ? prompt.size() - window : 0; i < prompt.size(); i++) {
          llama_sampler_accept(sampler.get(), prompt[i]);
        }
        std::string held;  // text not yet emitted: a partial UTF-8 char or a possible stop-string start
        const int32_t maxTokens = job->maxTokens;
        auto decodeStart = Clock::now();
        job->stopReason = "maxTokens";
        while (maxTokens < 0 || job->generatedTokens < maxTokens) {
          if (job->abort->load()) { job->stopReason = "abort"; break; }
          // Greedy without penalties needs no candidate list: take the argmax of the logits.
          const llama_token token = greedy ? argmaxToken(ctx, nVocab) : llama_sampler_sample(sampler.get(), ctx, -1);
          const bool eog = llama_vocab_is_eog(vocab, token);
          if (eog && !job->ignoreEos) { job->stopReason = "eos"; break; }
          job->generatedTokens++;
          if (!eog) held += model_->tokenText(token, false);

          // Stop strings may span tokens: search the held text.
          size_t stopAt = std::string::npos;
          for (const auto& s : job->stops) stopAt = std::min(stopAt, held.find(s));
          if (stopAt != std::string::npos) {
            job->emit(held.substr(0, stopAt));
            held.clear();
            job->stopReason = "stop";
            break;
          }
          // Emit all but an incomplete UTF-8 tail and the longest suffix that starts a stop string.
          size_t keep = incompleteUtf8Tail(held);
          for (const auto& s : job->stops) {
            for (size_t k = std::min(s.size() - 1, held.size()); k > keep; k--) {
              if (held.compare(held.size() - k, k, s, 0, k) == 0) { keep = k; break; }
            }
          }
          if (held.size() > keep) {
            job->emit(held.substr(0, held.size() - keep));
            held.erase(0, held.size() - keep);
          }
          if (maxTokens >= 0 && job->generatedTokens >= maxTokens) break;  // no need to decode the last token
          if (cached_.size() + 1 >= nCtx) { job->stopReason = "contextFull"; break; }
          llama_token next = token;
          int32_t rc = llama_decode(ctx, llama_batch_get_one(&next, 1));
          if (rc != 0) {
            trimCache();
            if (job->abort->load()) { job->stopReason = "abort"; break; }
            fail("Decoding failed (llama_decode returned " + std::to_string(rc) + ")", "NATIVE_ERROR");
            break;
          }
          cached_.push_back(token);
        }
        if (job->error.empty() && job->stopReason != "stop") {
          held.resize(held.size() - incompleteUtf8Tail(held));
          job->emit(held);
        }
        job->decodeMs = msSince(decodeStart);
      }
    }
  } catch (const std::exception& e) {
    std::string reason = recentErrors();
    fail(std::string(e.what()) + (reason.empty() ? "" : ": " + reason), "NATIVE_ERROR");
  }
  if (!job->error.empty() && job->errorCode == std::string("NATIVE_ERROR")) {
    std::string reason = recentErrors();
    if (!reason.empty() && job->error.find(reason) == std::string::npos) job->error += ": " + reason;
  }
  auto* holder = new std::shared_ptr<GenerationJob>(job);
  if (job->tsfn.NonBlockingCall(holder, GenerationJob::Finish) != napi_ok) delete holder;
}

// Idle compute threads sleep instead of polling for the next graph (llama.cpp wakes them on
// the next decode).
void AddonContext::pauseComputeThreads() {
  if (threadpool_) ggml_threadpool_pause(threadpool_.get());
}

// Another context's threads still polling after its last job would take cores from this one.
void AddonContext::pauseIdleContexts(Napi::Env env) {
  for (AddonContext* other : env.GetInstanceData<AddonData>()->contexts) {
    if (other != this && !other->busy_) other->pauseComputeThreads();
  }
}

}  // namespace akachat
