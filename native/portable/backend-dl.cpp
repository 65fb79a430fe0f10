// Portable builds only (CMake option AKACHAT_PORTABLE): ggml's backends are separate libraries
// beside akachat.node (GGML_BACKEND_DL), one CPU library per instruction-set level, loaded at
// run time. Two things the addon would otherwise get from a statically linked ggml:
//
// 1. ggml_backend_load_all() looks beside the node executable and in the working folder, so the
//    linker routes the addon's call here (-Wl,--wrap=ggml_backend_load_all), which loads the
//    libraries from the folder this addon was loaded from. GGML_BACKEND_PATH still adds an
//    out-of-tree backend, as upstream.
// 2. The thread-pool functions (ggml-cpu.h) live in whichever CPU library was loaded, which no
//    linker knows of. These definitions (hidden: only this addon's calls reach them) forward to
//    that library: its address comes from the CPU registry, its symbols from dlsym on it.
#include <dlfcn.h>

#include <string>

#include "ggml-backend.h"
#include "ggml.h"

extern "C" void __wrap_ggml_backend_load_all() {
  std::string dir = ".";
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&__wrap_ggml_backend_load_all), &info) != 0 && info.dli_fname != nullptr) {
    dir = info.dli_fname;
    const auto slash = dir.find_last_of('/');
    dir = slash == std::string::npos ? "." : dir.substr(0, slash);
  }
  ggml_backend_load_all_from_path(dir.c_str());
}

namespace {

// The loaded CPU library's own symbol `name`, or nullptr when no CPU backend is loaded (the
// addon loader refuses such an addon before anything runs).
void* cpuSymbol(const char* name) {
  ggml_backend_reg_t cpu = ggml_backend_reg_by_name("CPU");
  void* known = cpu != nullptr ? ggml_backend_reg_get_proc_address(cpu, "ggml_threadpool_new") : nullptr;
  Dl_info info{};
  if (known == nullptr || dladdr(known, &info) == 0 || info.dli_fname == nullptr) return nullptr;
  // Already loaded by ggml: RTLD_NOLOAD only finds its handle (and adds one reference, kept for
  // the life of the process like the library itself).
  void* library = dlopen(info.dli_fname, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  return library != nullptr ? dlsym(library, name) : nullptr;
}

template <typename Fn>
Fn cpuFunction(const char* name) {
  return reinterpret_cast<Fn>(cpuSymbol(name));
}

}  // namespace

#define AKACHAT_HIDDEN __attribute__((visibility("hidden")))

extern "C" AKACHAT_HIDDEN ggml_threadpool* ggml_threadpool_new(ggml_threadpool_params* params) {
  static const auto fn = cpuFunction<ggml_threadpool* (*)(ggml_threadpool_params*)>("ggml_threadpool_new");
  return fn != nullptr ? fn(params) : nullptr;
}

extern "C" AKACHAT_HIDDEN void ggml_threadpool_free(ggml_threadpool* pool) {
  static const auto fn = cpuFunction<void (*)(ggml_threadpool*)>("ggml_threadpool_free");
  if (fn != nullptr && pool != nullptr) fn(pool);
}

extern "C" AKACHAT_HIDDEN void ggml_threadpool_pause(ggml_threadpool* pool) {
  static const auto fn = cpuFunction<void (*)(ggml_threadpool*)>("ggml_threadpool_pause");
  if (fn != nullptr && pool != nullptr) fn(pool);
}
