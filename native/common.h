// Shared helpers for the addon: error capture from llama.cpp's log, abort tokens and a
// promise-returning worker base. Every worker catches std::exception and rejects with its
// message; nothing here ever exits or aborts the process.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace akachat {

// ---- llama.cpp log ---------------------------------------------------------------------
// llama.cpp reports many failures (bad GGUF, allocation failures) only in its log. Each
// thread keeps its last warning/error lines so a worker can put them into its rejection.
void installLogHook();
void clearRecentErrors();
std::string recentErrors();  // "reason1; reason2" or ""
Napi::Value SetLogger(const Napi::CallbackInfo& info);
void releaseLogger();

// ---- llama.cpp asserts ---------------------------------------------------------------
// GGML_ASSERT aborts the whole process. installAbortHook() makes a failed assert on a thread
// inside an AssertsThrow scope throw std::runtime_error instead, which llama.cpp's loader
// catches and turns into a failed load. Only model loading opens such a scope: there every
// assert checks file contents before anything is shared. Elsewhere (compute threads, decode)
// an assert still aborts, since state after it is unknown; the checks in gguf.cpp keep known
// bad files from getting that far.
void installAbortHook();
class AssertsThrow {
 public:
  AssertsThrow();
  ~AssertsThrow();
  AssertsThrow(const AssertsThrow&) = delete;
  AssertsThrow& operator=(const AssertsThrow&) = delete;
};

// ---- calls into JS from other threads -------------------------------------------------------
// A thread-safe function's callback must not let a C++ exception out: one escaping it ends the
// process (std::terminate). fn.Call throws Napi::Error when the JS function throws or when JS can
// no longer run (the environment is being torn down at exit, with log lines still queued).
// The JS side guards its own callbacks, so what is dropped here is only what nobody could receive.
void callJs(Napi::Env env, Napi::Function fn, const std::initializer_list<napi_value>& args);

// ---- cancellation -----------------------------------------------------------------------
// A JS-visible token wrapping a shared atomic flag, so workers on other threads can poll
// it after the JS object is gone.
using AbortFlag = std::shared_ptr<std::atomic<bool>>;

class AddonModel;
class AddonContext;

// Per-environment state: constructors (for instanceof checks) and the live native objects,
// which the environment cleanup hook frees so a process with a model loaded exits cleanly.
struct AddonData {
  Napi::FunctionReference abortTokenCtor;
  Napi::FunctionReference modelCtor;
  Napi::FunctionReference contextCtor;
  std::set<AddonModel*> models;
  std::set<AddonContext*> contexts;
};

// A generation's token also carries a second flag, set once something reads its text as it
// comes: until then text is kept native-side and handed over at the end, because waking the
// JS thread mid-generation costs the decode threads time on small machines.
class AbortToken : public Napi::ObjectWrap<AbortToken> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit AbortToken(const Napi::CallbackInfo& info);
  AbortFlag flag() const { return flag_; }
  // The flag of an optional AbortToken argument, or a fresh never-set flag.
  static AbortFlag FromValue(const Napi::Value& value);
  // The streaming flag of an optional AbortToken argument, or a fresh always-set flag (text
  // flows as it comes when nobody can say otherwise).
  static AbortFlag StreamFlagFromValue(const Napi::Value& value);

 private:
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Aborted(const Napi::CallbackInfo& info);
  Napi::Value Stream(const Napi::CallbackInfo& info);
  static AbortToken* FromObject(const Napi::Value& value);
  AbortFlag flag_;
  AbortFlag stream_;
};

// ---- promise worker ----------------------------------------------------------------------
// Runs Execute() on the libuv pool and settles a promise. Subclasses fill `error` (or throw)
// in Execute and build the value in Resolve.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env, const char* name);
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  virtual void Run() = 0;                               // worker thread
  virtual Napi::Value Resolve(Napi::Env env) = 0;       // JS thread
  // Fails the job with `message`, appending llama.cpp's recent error lines when present.
  void FailWithLog(const std::string& message);
  std::string code_ = "NATIVE_ERROR";
  void OnError(const Napi::Error& error) override;

 private:
  void Execute() override;
  void OnOK() override;
  Napi::Promise::Deferred deferred_;
};

// Error object with a `code` property, the way the TS layer maps native errors.
Napi::Error MakeError(Napi::Env env, const std::string& message, const std::string& code);
[[noreturn]] void ThrowError(Napi::Env env, const std::string& message, const std::string& code);

// Argument helpers: checked conversions with clear messages (TS validates first; these stop
// a malformed call from reaching llama.cpp).
std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Object ObjectArg(const Napi::CallbackInfo& info, size_t i, const char* name);
double NumberOpt(const Napi::Object& o, const char* key, double fallback);
bool BoolOpt(const Napi::Object& o, const char* key, bool fallback);
std::string StringOpt(const Napi::Object& o, const char* key, const std::string& fallback);

}  // namespace akachat
