// Registers the addon's classes and functions, initialises llama.cpp's backends once, installs
// the log hook, and frees every live context and model when the environment shuts down so a
// process with a model loaded exits cleanly.
#include <common.h>  // llama.cpp's common/ (not native/common.h): CPU core counts
#include <ggml-backend.h>
#include <llama.h>
#include <napi.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#ifndef _WIN32
#include <sys/resource.h>
#endif

#include "chat.h"
#include "common.h"
#include "context.h"
#include "gguf.h"
#include "model.h"
#include "quantize.h"
#include "sampler.h"

namespace akachat {

namespace {

Napi::Value SystemInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("llama", llama_print_system_info());
  out.Set("supportsGpuOffload", llama_supports_gpu_offload());
  out.Set("supportsMmap", llama_supports_mmap());
  // llama.cpp's own default thread count: physical cores (performance cores on hybrid CPUs).
  out.Set("mathCores", common_cpu_get_num_math());
  Napi::Array devices = Napi::Array::New(env);
  for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    size_t free = 0, total = 0;
    ggml_backend_dev_memory(dev, &free, &total);
    const auto type = ggml_backend_dev_type(dev);
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", ggml_backend_dev_name(dev));
    d.Set("description", ggml_backend_dev_description(dev));
    d.Set("type", type == GGML_BACKEND_DEVICE_TYPE_CPU ? "cpu"
                  : type == GGML_BACKEND_DEVICE_TYPE_GPU ? "gpu"
                  : type == GGML_BACKEND_DEVICE_TYPE_IGPU ? "igpu" : "accel");
    d.Set("memoryFree", Napi::Number::New(env, static_cast<double>(free)));
    d.Set("memoryTotal", Napi::Number::New(env, static_cast<double>(total)));
    devices.Set(static_cast<uint32_t>(i), d);
  }
  out.Set("devices", devices);
  return out;
}

// limitMemory(bytes): caps this process's data segment (heap and private mappings), so an
// allocation past it fails with std::bad_alloc instead of the machine running out of memory.
// Only the template worker process calls it. No-op on Windows.
Napi::Value LimitMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber() || info[0].As<Napi::Number>().DoubleValue() < 1) {
    ThrowError(env, "Expected a positive number for bytes", "INVALID_ARGUMENT");
  }
#ifndef _WIN32
  const auto wanted = static_cast<rlim_t>(info[0].As<Napi::Number>().DoubleValue());
  rlimit limit{};
  if (getrlimit(RLIMIT_DATA, &limit) != 0) ThrowError(env, "getrlimit(RLIMIT_DATA) failed", "NATIVE_ERROR");
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
  if (setrlimit(RLIMIT_DATA, &limit) != 0) ThrowError(env, "setrlimit(RLIMIT_DATA) failed", "NATIVE_ERROR");
#endif
  return env.Undefined();
}

void KeepAddonData(Napi::Env, AddonData*) {}

void Cleanup(void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  // Contexts first (they stop their threads), then models.
  while (!data->contexts.empty()) {
    AddonContext* ctx = *data->contexts.begin();
    ctx->release();
    data->contexts.erase(ctx);
  }
  while (!data->models.empty()) {
    AddonModel* model = *data->models.begin();
    model->release();
    data->models.erase(model);
  }
  releaseLogger();
}

// shutdown(): frees every context and model of this environment now. process.exit() runs no
// environment cleanup hooks: it goes straight to exit(), whose static destructors tear down
// ggml's state while a job thread may still be computing (a SIGSEGV in that thread). The JS
// side calls this from process 'exit', which process.exit() emits first. Idempotent.
Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  if (AddonData* data = info.Env().GetInstanceData<AddonData>()) Cleanup(data);
  return info.Env().Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static bool backendReady = false;
  if (!backendReady) {
    installLogHook();
    installAbortHook();
    llama_backend_init();
    // The template worker process (src/engine/template-sandbox.ts) only renders chat templates:
    // it loads no compute backend (a CUDA build would otherwise start the CUDA runtime there).
    if (std::getenv("AKACHAT_TEMPLATE_WORKER") == nullptr) ggml_backend_load_all();
    backendReady = true;
  }
  // Never freed: wrapper finalizers may run after environment teardown and still look here.
  // One small struct per environment.
  auto* data = new AddonData();
  env.SetInstanceData<AddonData, &KeepAddonData>(data);
  Napi::Function token = AbortToken::Init(env);
  Napi::Function model = AddonModel::Init(env);
  Napi::Function context = AddonContext::Init(env);
  data->abortTokenCtor = Napi::Persistent(token);
  data->modelCtor = Napi::Persistent(model);
  data->contextCtor = Napi::Persistent(context);
  napi_add_env_cleanup_hook(env, Cleanup, data);

  // What the JavaScript side expects of this addon (its methods and options): bump together with
  // ADDON_INTERFACE in src/engine/addon.ts, so an addon built from older sources is passed over
  // with a clear reason instead of failing on a missing method later.
  exports.Set("interfaceVersion", Napi::Number::New(env, 2));
  exports.Set("AbortToken", token);
  exports.Set("Model", model);
  exports.Set("Context", context);
  exports.Set("readGguf", Napi::Function::New(env, ReadGguf, "readGguf"));
  exports.Set("chatTemplateBuiltins", Napi::Function::New(env, ChatTemplateBuiltins, "chatTemplateBuiltins"));
  exports.Set("renderChatTemplate", Napi::Function::New(env, RenderChatTemplate, "renderChatTemplate"));
  exports.Set("limitMemory", Napi::Function::New(env, LimitMemory, "limitMemory"));
  exports.Set("quantize", Napi::Function::New(env, Quantize, "quantize"));
  exports.Set("systemInfo", Napi::Function::New(env, SystemInfo, "systemInfo"));
  exports.Set("setLogger", Napi::Function::New(env, SetLogger, "setLogger"));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown, "shutdown"));
  InitChat(env, exports);
  exports.Set("jsonSchemaToGrammar", Napi::Function::New(env, JsonSchemaToGrammar, "jsonSchemaToGrammar"));
#ifdef AKACHAT_CUDA
  exports.Set("cuda", Napi::Boolean::New(env, true));
#else
  exports.Set("cuda", Napi::Boolean::New(env, false));
#endif
  return exports;
}

}  // namespace akachat

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return akachat::Init(env, exports); }

NODE_API_MODULE(akachat, InitAddon)
