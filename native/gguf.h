#pragma once
#include <napi.h>

#include <string>

namespace akachat {
Napi::Value ReadGguf(const Napi::CallbackInfo& info);
// Checks a GGUF file for metadata that makes llama.cpp crash or stall the process later: token
// texts its tokenizer set-up cannot take, and (with hyperParameters) values that assert at
// context creation or in a compute thread, where an assert cannot be turned into an error.
// Returns "" when nothing known is wrong, else the reason. Any thread.
std::string CheckModelFile(const std::string& path, bool hyperParameters);
}  // namespace akachat
