#pragma once
#include <napi.h>

#include <string>

namespace akachat {
Napi::Value ReadGguf(const Napi::CallbackInfo& info);
// Checks a GGUF file for metadata that makes llama.cpp abort the process later (at context
// creation or in a compute thread, where an assert cannot be turned into an error). Returns
// "" when nothing known is wrong, else the reason. Any thread.
std::string CheckModelFile(const std::string& path);
}  // namespace akachat
