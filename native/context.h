// AddonContext: one llama_context (KV cache) over an AddonModel, with sequence 0 used for
// generation. It remembers the tokens in its KV cache so the next generation reuses the
// longest common prefix. Generations run on the context's own long-lived thread (never on
// the libuv pool) and stream text to JS through a thread-safe function; at most one job runs
// at a time.
#pragma once

#include <ggml-cpu.h>
#include <llama-cpp.h>
#include <napi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

namespace akachat {

class AddonModel;
struct GenerationJob;

// One long-lived thread that runs posted jobs in order, so a generation starts without a
// thread start. After `idleGrace` without a job it calls `onIdle` once: back-to-back jobs
// find the compute threads still awake, an idle context lets them sleep.
class JobThread {
 public:
  JobThread(std::chrono::milliseconds idleGrace, std::function<void()> onIdle)
      : idleGrace_(idleGrace), onIdle_(std::move(onIdle)) {}
  ~JobThread() { stop(); }
  void post(std::function<void()> job);  // starts the thread on first use
  void stop();                           // lets the current job finish, then joins

 private:
  void loop();
  const std::chrono::milliseconds idleGrace_;
  const std::function<void()> onIdle_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::function<void()> next_;
  bool stopping_ = false;
  std::thread thread_;
};

class AddonContext : public Napi::ObjectWrap<AddonContext> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit AddonContext(const Napi::CallbackInfo& info);
  ~AddonContext() override;

  // Aborts a running job, waits for its thread and frees the llama_context. Idempotent.
  void release();

  llama_context* ctx() const { return ctx_.get(); }
  AddonModel* model() const { return model_; }

 private:
  friend class CreateContextWorker;
  friend class EmbedWorker;
  friend struct GenerationJob;
  Napi::Value Create(const Napi::CallbackInfo& info);
  Napi::Value Generate(const Napi::CallbackInfo& info);
  Napi::Value Embed(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value ClearCache(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  void requireReady(Napi::Env env) const;
  void runGeneration(const std::shared_ptr<GenerationJob>& job);
  void finishJob();
  void pauseComputeThreads();
  void pauseIdleContexts(Napi::Env env);

  AddonModel* model_ = nullptr;
  Napi::ObjectReference modelRef_;  // the model outlives its contexts
  // A persistent compute thread pool: without one, ggml sets up a throwaway pool for every
  // graph, a cost paid on every generated token. Freed after the context that uses it.
  struct ThreadpoolDeleter {
    void operator()(ggml_threadpool* pool) const { ggml_threadpool_free(pool); }
  };
  std::unique_ptr<ggml_threadpool, ThreadpoolDeleter> threadpool_;
  llama_context_ptr ctx_;
  bool creating_ = false;
  bool embeddings_ = false;
  uint32_t batchSize_ = 512;
  uint32_t seqMax_ = 1;
  // Tokens currently in the KV cache for sequence 0. Touched only by the thread that owns
  // the running job (busy_ set) or by the JS thread when idle.
  std::vector<llama_token> cached_;
  std::atomic<bool> busy_{false};
  AbortFlag jobAbort_;  // polled by llama's abort callback between graph nodes
  // Declared last: stopped before the members its jobs use. Compute threads poll for the next
  // graph for a moment after a generation, then sleep.
  JobThread jobs_{std::chrono::milliseconds(20), [this]() { pauseComputeThreads(); }};
};

}  // namespace akachat
