#pragma once
#include <napi.h>

namespace akachat {
// quantize(input, output, ftype, threads) -> Promise<void>, on the libuv pool.
Napi::Value Quantize(const Napi::CallbackInfo& info);
}
