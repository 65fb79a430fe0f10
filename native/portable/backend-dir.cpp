// Portable builds only (CMake option AKACHAT_PORTABLE): ggml's backends are separate libraries
// beside akachat.node, one CPU library per instruction-set level. ggml_backend_load_all() would
// look for them beside the node executable and in the working folder, so the linker routes the
// addon's call here (-Wl,--wrap=ggml_backend_load_all) and they are loaded from the folder this
// addon was loaded from. GGML_BACKEND_PATH still adds an out-of-tree backend, as upstream.
#include <dlfcn.h>

#include <string>

#include "ggml-backend.h"

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
