// AddonContext: one llama_context (KV cache) over an AddonModel. A generation context holds
// `slots` sequences (llama-server's slots): each remembers the tokens in its part of the KV
// cache, so a request placed on the slot that shares the longest prefix with it decodes only
// the rest. One decode loop on the context's own long-lived thread (never on the libuv pool)
// serves every slot: each step is one llama_batch with the next token of every generating
// slot and prompt chunks of starting ones (continuous batching). Text streams to JS through
// each generation's thread-safe function. Requests beyond the free slots wait in arrival order.
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
struct Slot;
struct StateOp;

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
  Napi::Value AdmitDeferred(const Napi::CallbackInfo& info);
  Napi::Value Embed(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value ClearCache(const Napi::CallbackInfo& info);
  Napi::Value SaveSlot(const Napi::CallbackInfo& info);
  Napi::Value LoadSlot(const Napi::CallbackInfo& info);
  Napi::Value QueueStateOp(const Napi::CallbackInfo& info, bool save);
  void runStateOp(StateOp& op);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  void requireReady(Napi::Env env) const;
  // Decode loop (job thread): runs while a slot is active or a request waits.
  void runSlots();
  void startLoop();
  void admit(Slot& slot, std::shared_ptr<GenerationJob> job);
  void copyLongerPrefix(Slot& slot, size_t& reuse);
  // Host-memory prompt cache (llama-server's --cache-ram): what a slot held before a request
  // that keeps little of it took it over, restored into a slot for a later request sharing a
  // longer prefix, so more conversations than slots each keep their prefix. Loop thread.
  void keepEvicted(const Slot& slot, size_t reuse);
  void restoreKept(Slot& slot, size_t& reuse);
  static constexpr size_t kKeptBytes = 256u << 20;  // host memory for kept prompts, per context
  // Restoring a kept token (copying its KV cells) costs far less than decoding one: a kept prompt
  // is restored when it gains at least one token per kRestoredPerGain tokens it holds.
  static constexpr size_t kRestoredPerGain = 64;
  // A shorter shared prefix is decoded again: cheaper than copying a whole KV stream.
  static constexpr size_t kMinCopiedPrefix = 32;
  void advance(Slot& slot, int32_t logitsIndex);
  void finishSlot(Slot& slot, const char* stopReason);
  void failSlot(Slot& slot, const std::string& message, const char* code);
  void freeSlot(Slot& slot);
  void publishSlots();
  void finishJob();
  bool idle() const { return !busy_ && generating_ == 0; }
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
  uint32_t slotContext_ = 0;  // tokens one slot (sequence) holds
  // Slots: owned by the decode loop while it runs (loopRunning_), by the JS thread otherwise.
  std::vector<std::unique_ptr<Slot>> slots_;
  uint64_t useClock_ = 0;  // orders slots by last use (loop thread)
  struct KeptPrompt {
    std::vector<llama_token> tokens;
    std::vector<uint8_t> state;  // llama_state_seq_get_data of the sequence holding `tokens`
    uint64_t lastUsed = 0;
  };
  // Owned like slots_: by the decode loop while it runs, by the JS thread otherwise.
  std::vector<KeptPrompt> kept_;
  size_t keptBytes_ = 0;
  // Shared between the JS thread and the loop: waiting requests, whether the loop runs, a
  // cache clear asked for while it winds down, and what each slot holds (for `info`).
  struct SlotView {
    const char* state = "idle";
    size_t cachedTokens = 0;
    int32_t promptTokens = 0, generatedTokens = 0;
  };
  std::mutex slotsMutex_;
  std::vector<std::shared_ptr<GenerationJob>> waiting_;
  std::vector<std::shared_ptr<StateOp>> stateOps_;  // slot saves and restores, in call order
  std::vector<SlotView> views_;
  // llama_decode calls of the loop and the slots they served, summed (llama-server's
  // n_decode_total and n_busy_slots_per_decode): how well requests share steps.
  uint64_t decodes_ = 0, slotDecodes_ = 0;
  bool loopRunning_ = false;
  bool clearRequested_ = false;
  uint32_t generating_ = 0;  // generations not yet settled in JS (JS thread only)
  std::atomic<bool> busy_{false};  // an embedding job runs
  // Polled by llama's abort callback between graph nodes: the context is closing, or the abort
  // flag of the only generation in the batch being decoded (or of the embedding job).
  std::atomic<bool> closing_{false};
  std::atomic<std::atomic<bool>*> batchAbort_{nullptr};
  AbortFlag embedAbort_;  // the running embedding's flag, set on release
  // Declared last: stopped before the members its jobs use. Compute threads poll for the next
  // graph for a moment after a generation, then sleep.
  JobThread jobs_{std::chrono::milliseconds(20), [this]() { pauseComputeThreads(); }};
};

}  // namespace akachat
