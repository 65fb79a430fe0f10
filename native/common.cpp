#include "common.h"

#include <llama.h>

#include <cstdio>
#include <deque>
#include <mutex>
#include <stdexcept>

namespace akachat {

// ---- log ----------------------------------------------------------------------------------

namespace {

struct LogLine {
  int level;
  std::string text;
};

std::mutex g_logMutex;
Napi::ThreadSafeFunction g_logFn;  // guarded by g_logMutex
std::atomic<int> g_logLevel{GGML_LOG_LEVEL_NONE + 100};  // nothing forwarded until SetLogger

thread_local std::string t_partial;   // a line still being written (CONT pieces)
thread_local int t_partialLevel = GGML_LOG_LEVEL_INFO;
thread_local std::deque<std::string> t_recentErrors;

void forwardLine(int level, std::string text) {
  if (level == GGML_LOG_LEVEL_WARN || level == GGML_LOG_LEVEL_ERROR) {
    t_recentErrors.push_back(text);
    if (t_recentErrors.size() > 6) t_recentErrors.pop_front();
  }
  if (level < g_logLevel.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(g_logMutex);
  if (!g_logFn) return;
  auto* line = new LogLine{level, std::move(text)};
  napi_status status = g_logFn.NonBlockingCall(line, [](Napi::Env env, Napi::Function fn, LogLine* l) {
    if (env != nullptr && fn != nullptr) {
      callJs(env, fn, {Napi::Number::New(env, l->level), Napi::String::New(env, l->text)});
    }
    delete l;
  });
  if (status != napi_ok) delete line;
}

void logCallback(ggml_log_level level, const char* text, void*) {
  if (text == nullptr) return;
  if (level != GGML_LOG_LEVEL_CONT) {
    if (!t_partial.empty()) forwardLine(t_partialLevel, std::move(t_partial));
    t_partial.clear();
    t_partialLevel = level;
  }
  t_partial += text;
  size_t nl;
  while ((nl = t_partial.find('\n')) != std::string::npos) {
    std::string line = t_partial.substr(0, nl);
    t_partial.erase(0, nl + 1);
    if (!line.empty()) forwardLine(t_partialLevel, std::move(line));
  }
}

}  // namespace

void installLogHook() { llama_log_set(logCallback, nullptr); }

void callJs(Napi::Env env, Napi::Function fn, const std::initializer_list<napi_value>& args) {
  try {
    fn.Call(args);
  } catch (const Napi::Error&) {
    // Nothing to hand it to: see common.h. Clear any exception left pending on the environment.
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
}

void clearRecentErrors() { t_recentErrors.clear(); }

std::string recentErrors() {
  std::string out;
  for (const auto& line : t_recentErrors) {
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out;
}

// setLogger(fn | null, minLevel): fn(level, line) receives llama.cpp's log lines at or above
// minLevel (ggml_log_level numbers). The function never keeps the process alive.
Napi::Value SetLogger(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> lock(g_logMutex);
  if (g_logFn) {
    g_logFn.Release();
    g_logFn = Napi::ThreadSafeFunction();
  }
  if (info.Length() > 0 && info[0].IsFunction()) {
    g_logFn = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "akachat-log", 0, 1);
    g_logFn.Unref(env);
    g_logLevel = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : GGML_LOG_LEVEL_WARN;
  } else {
    g_logLevel = GGML_LOG_LEVEL_NONE + 100;
  }
  return env.Undefined();
}

void releaseLogger() {
  std::lock_guard<std::mutex> lock(g_logMutex);
  if (g_logFn) {
    g_logFn.Release();
    g_logFn = Napi::ThreadSafeFunction();
  }
  g_logLevel = GGML_LOG_LEVEL_NONE + 100;
}

// ---- asserts ----------------------------------------------------------------------------------

namespace {

thread_local int t_assertsThrow = 0;

// Called by ggml_abort, which calls abort() when this returns. The message starts with the
// source path of the assert; only its file name is kept.
void abortCallback(const char* message) {
  std::string text = message != nullptr ? message : "GGML_ASSERT failed";
  size_t colon = text.find(':');
  size_t slash = text.find_last_of("/\\", colon);
  if (colon != std::string::npos && slash != std::string::npos) text.erase(0, slash + 1);
  if (t_assertsThrow > 0) throw std::runtime_error("llama.cpp refused the file (" + text + ")");
  std::fprintf(stderr, "%s\n", text.c_str());
}

}  // namespace

void installAbortHook() { ggml_set_abort_callback(abortCallback); }

AssertsThrow::AssertsThrow() { t_assertsThrow++; }
AssertsThrow::~AssertsThrow() { t_assertsThrow--; }

// ---- abort token -----------------------------------------------------------------------------

Napi::Function AbortToken::Init(Napi::Env env) {
  return DefineClass(env, "AbortToken", {
    InstanceMethod<&AbortToken::Abort>("abort"),
    InstanceMethod<&AbortToken::Stream>("stream"),
    InstanceAccessor<&AbortToken::Aborted>("aborted"),
  });
}

AbortToken::AbortToken(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<AbortToken>(info),
      flag_(std::make_shared<std::atomic<bool>>(false)),
      stream_(std::make_shared<std::atomic<bool>>(false)) {}

Napi::Value AbortToken::Abort(const Napi::CallbackInfo& info) {
  flag_->store(true);
  return info.Env().Undefined();
}

Napi::Value AbortToken::Stream(const Napi::CallbackInfo& info) {
  stream_->store(true);
  return info.Env().Undefined();
}

Napi::Value AbortToken::Aborted(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), flag_->load());
}

// Only real AbortToken instances are unwrapped (an arbitrary object must not be).
AbortToken* AbortToken::FromObject(const Napi::Value& value) {
  if (!value.IsObject()) return nullptr;
  AddonData* data = value.Env().GetInstanceData<AddonData>();
  if (data == nullptr || !value.As<Napi::Object>().InstanceOf(data->abortTokenCtor.Value())) return nullptr;
  return AbortToken::Unwrap(value.As<Napi::Object>());
}

AbortFlag AbortToken::FromValue(const Napi::Value& value) {
  AbortToken* token = FromObject(value);
  return token != nullptr ? token->flag_ : std::make_shared<std::atomic<bool>>(false);
}

AbortFlag AbortToken::StreamFlagFromValue(const Napi::Value& value) {
  AbortToken* token = FromObject(value);
  return token != nullptr ? token->stream_ : std::make_shared<std::atomic<bool>>(true);
}

// ---- promise worker ---------------------------------------------------------------------------

PromiseWorker::PromiseWorker(Napi::Env env, const char* name)
    : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}

void PromiseWorker::FailWithLog(const std::string& message) {
  std::string reason = recentErrors();
  SetError(reason.empty() ? message : message + ": " + reason);
}

void PromiseWorker::Execute() {
  clearRecentErrors();
  try {
    Run();
  } catch (const std::exception& e) {
    FailWithLog(e.what());
  } catch (...) {
    FailWithLog("unknown native error");
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  try {
    deferred_.Resolve(Resolve(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

void PromiseWorker::OnError(const Napi::Error& error) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Error err = MakeError(env, error.Message(), code_);
  deferred_.Reject(err.Value());
}

// ---- errors and arguments ------------------------------------------------------------------

Napi::Error MakeError(Napi::Env env, const std::string& message, const std::string& code) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

void ThrowError(Napi::Env env, const std::string& message, const std::string& code) {
  throw MakeError(env, message, code);
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString()) {
    ThrowError(info.Env(), std::string("Expected a string for ") + name, "INVALID_ARGUMENT");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Object ObjectArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsObject()) {
    ThrowError(info.Env(), std::string("Expected an object for ") + name, "INVALID_ARGUMENT");
  }
  return info[i].As<Napi::Object>();
}

double NumberOpt(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

bool BoolOpt(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
}

std::string StringOpt(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : fallback;
}

}  // namespace akachat
