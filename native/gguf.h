#pragma once
#include <napi.h>

namespace akachat {
Napi::Value ReadGguf(const Napi::CallbackInfo& info);
}
