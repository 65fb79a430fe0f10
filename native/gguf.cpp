// readGguf(path) -> Promise<{ version, tensorCount, metadata }>: a GGUF's key/value metadata
// without loading any weights. Arrays longer than kMaxArray come back as a summary
// { type: 'array', elementType, length } so a 150k-token vocabulary is not copied to JS.
#include <ggml-backend.h>
#include <gguf.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <variant>
#include <vector>

#include "common.h"
#include "gguf.h"  // this file's declaration (after llama.cpp's <gguf.h>)

namespace akachat {

namespace {

constexpr size_t kMaxArray = 1024;

struct GgufValue;
using GgufScalar = std::variant<std::monostate, double, bool, std::string>;
struct GgufValue {
  GgufScalar scalar;
  bool isArray = false;
  std::string elementType;
  size_t length = 0;
  std::vector<GgufScalar> items;  // empty when the array was summarised
};

GgufScalar scalarAt(const gguf_context* ctx, int64_t key, gguf_type type, const void* data, size_t i) {
  switch (type) {
    case GGUF_TYPE_UINT8: return static_cast<double>(static_cast<const uint8_t*>(data)[i]);
    case GGUF_TYPE_INT8: return static_cast<double>(static_cast<const int8_t*>(data)[i]);
    case GGUF_TYPE_UINT16: return static_cast<double>(static_cast<const uint16_t*>(data)[i]);
    case GGUF_TYPE_INT16: return static_cast<double>(static_cast<const int16_t*>(data)[i]);
    case GGUF_TYPE_UINT32: return static_cast<double>(static_cast<const uint32_t*>(data)[i]);
    case GGUF_TYPE_INT32: return static_cast<double>(static_cast<const int32_t*>(data)[i]);
    case GGUF_TYPE_FLOAT32: return static_cast<double>(static_cast<const float*>(data)[i]);
    case GGUF_TYPE_UINT64: return static_cast<double>(static_cast<const uint64_t*>(data)[i]);
    case GGUF_TYPE_INT64: return static_cast<double>(static_cast<const int64_t*>(data)[i]);
    case GGUF_TYPE_FLOAT64: return static_cast<const double*>(data)[i];
    case GGUF_TYPE_BOOL: return static_cast<const int8_t*>(data)[i] != 0;
    case GGUF_TYPE_STRING: return std::string(gguf_get_arr_str(ctx, key, i));
    default: return std::monostate{};
  }
}

class ReadGgufWorker : public PromiseWorker {
 public:
  ReadGgufWorker(Napi::Env env, std::string path) : PromiseWorker(env, "akachat.readGguf"), path_(std::move(path)) {
    code_ = "MODEL_LOAD_FAILED";
  }

 protected:
  void Run() override {
    gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
    gguf_context* ctx = gguf_init_from_file(path_.c_str(), params);
    if (ctx == nullptr) {
      FailWithLog("Failed to read GGUF metadata from " + path_);
      return;
    }
    struct Guard { gguf_context* c; ~Guard() { gguf_free(c); } } guard{ctx};
    version_ = gguf_get_version(ctx);
    tensorCount_ = gguf_get_n_tensors(ctx);
    const int64_t n = gguf_get_n_kv(ctx);
    for (int64_t i = 0; i < n; i++) {
      GgufValue value;
      const gguf_type type = gguf_get_kv_type(ctx, i);
      if (type == GGUF_TYPE_ARRAY) {
        const gguf_type elem = gguf_get_arr_type(ctx, i);
        value.isArray = true;
        value.elementType = gguf_type_name(elem);
        value.length = gguf_get_arr_n(ctx, i);
        if (value.length <= kMaxArray && elem != GGUF_TYPE_ARRAY) {
          const void* data = elem == GGUF_TYPE_STRING ? nullptr : gguf_get_arr_data(ctx, i);
          for (size_t j = 0; j < value.length; j++) value.items.push_back(scalarAt(ctx, i, elem, data, j));
        }
      } else if (type == GGUF_TYPE_STRING) {
        value.scalar = std::string(gguf_get_val_str(ctx, i));
      } else {
        value.scalar = scalarAt(ctx, i, type, gguf_get_val_data(ctx, i), 0);
      }
      entries_.emplace_back(gguf_get_key(ctx, i), std::move(value));
    }
  }

  static Napi::Value ToJs(Napi::Env env, const GgufScalar& s) {
    if (std::holds_alternative<double>(s)) return Napi::Number::New(env, std::get<double>(s));
    if (std::holds_alternative<bool>(s)) return Napi::Boolean::New(env, std::get<bool>(s));
    if (std::holds_alternative<std::string>(s)) return Napi::String::New(env, std::get<std::string>(s));
    return env.Null();
  }

  Napi::Value Resolve(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("version", version_);
    out.Set("tensorCount", Napi::Number::New(env, static_cast<double>(tensorCount_)));
    Napi::Object metadata = Napi::Object::New(env);
    for (const auto& [key, value] : entries_) {
      if (!value.isArray) {
        metadata.Set(key, ToJs(env, value.scalar));
      } else if (value.items.size() == value.length) {
        Napi::Array arr = Napi::Array::New(env, value.length);
        for (size_t j = 0; j < value.items.size(); j++) arr.Set(static_cast<uint32_t>(j), ToJs(env, value.items[j]));
        metadata.Set(key, arr);
      } else {
        Napi::Object summary = Napi::Object::New(env);
        summary.Set("type", "array");
        summary.Set("elementType", value.elementType);
        summary.Set("length", Napi::Number::New(env, static_cast<double>(value.length)));
        metadata.Set(key, summary);
      }
    }
    out.Set("metadata", metadata);
    return out;
  }

 private:
  std::string path_;
  uint32_t version_ = 0;
  int64_t tensorCount_ = 0;
  std::vector<std::pair<std::string, GgufValue>> entries_;
};

// The value of an integer key, or false for any other type.
bool integerValue(const gguf_context* ctx, int64_t key, int64_t& out) {
  switch (gguf_get_kv_type(ctx, key)) {
    case GGUF_TYPE_UINT8: out = gguf_get_val_u8(ctx, key); return true;
    case GGUF_TYPE_INT8: out = gguf_get_val_i8(ctx, key); return true;
    case GGUF_TYPE_UINT16: out = gguf_get_val_u16(ctx, key); return true;
    case GGUF_TYPE_INT16: out = gguf_get_val_i16(ctx, key); return true;
    case GGUF_TYPE_UINT32: out = gguf_get_val_u32(ctx, key); return true;
    case GGUF_TYPE_INT32: out = gguf_get_val_i32(ctx, key); return true;
    case GGUF_TYPE_UINT64: out = static_cast<int64_t>(std::min<uint64_t>(gguf_get_val_u64(ctx, key), INT64_MAX)); return true;
    case GGUF_TYPE_INT64: out = gguf_get_val_i64(ctx, key); return true;
    default: return false;
  }
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// A hyper-parameter (a float under "<arch>.") that no model has and that llama.cpp only
// trips over later, or "".
std::string checkFloat(const std::string& key, double v) {
  if (!std::isfinite(v)) return key + " is " + number(v) + ": expected a finite number";
  if (key.find("epsilon") != std::string::npos && v < 0) return key + " is " + number(v) + ": expected a number >= 0";
  return "";
}

// Token texts that llama.cpp's tokenizer set-up cannot take: its byte trie recurses once per
// byte (a 100k-byte token overflows the loading thread's stack) and PLaMo2's builds every
// suffix of every token (time and memory grow with the square of a token's length).
std::string checkTokens(const gguf_context* ctx) {
  const int64_t key = gguf_find_key(ctx, "tokenizer.ggml.tokens");
  if (key < 0 || gguf_get_kv_type(ctx, key) != GGUF_TYPE_ARRAY || gguf_get_arr_type(ctx, key) != GGUF_TYPE_STRING) return "";
  const int64_t modelKey = gguf_find_key(ctx, "tokenizer.ggml.model");
  const bool plamo2 = modelKey >= 0 && gguf_get_kv_type(ctx, modelKey) == GGUF_TYPE_STRING &&
                      std::string(gguf_get_val_str(ctx, modelKey)) == "plamo2";
  constexpr size_t kMaxToken = 4096;         // real vocabularies stay under a few hundred bytes
  constexpr double kMaxSuffixWork = 1 << 28;  // a real PLaMo2 vocabulary needs a few million
  double suffixWork = 0;
  for (size_t j = 0; j < gguf_get_arr_n(ctx, key); j++) {
    const size_t length = std::strlen(gguf_get_arr_str(ctx, key, j));
    if (length > kMaxToken) {
      return "tokenizer.ggml.tokens[" + std::to_string(j) + "] is " + std::to_string(length) +
             " bytes long: expected at most " + std::to_string(kMaxToken);
    }
    suffixWork += static_cast<double>(length) * static_cast<double>(length) / 2;
  }
  if (plamo2 && suffixWork > kMaxSuffixWork) return "the PLaMo2 vocabulary's tokens are too long to set up";
  return "";
}

}  // namespace

std::string CheckModelFile(const std::string& path, bool hyperParameters) {
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  gguf_context* ctx = gguf_init_from_file(path.c_str(), params);
  if (ctx == nullptr) return "";  // llama.cpp's loader refuses it too, with the reason in its log
  struct Guard { gguf_context* c; ~Guard() { gguf_free(c); } } guard{ctx};
  std::string tokens = checkTokens(ctx);
  if (!tokens.empty() || !hyperParameters) return tokens;

  // Weights are used in place from the mapped file: the CPU backend asserts that each tensor's
  // address is aligned to its own alignment (32), so a smaller general.alignment aborts.
  const size_t cpuAlign = ggml_backend_buft_get_alignment(ggml_backend_cpu_buffer_type());
  const size_t align = gguf_get_alignment(ctx);
  if (align % cpuAlign != 0) {
    return "general.alignment is " + std::to_string(align) + ": expected a multiple of " + std::to_string(cpuAlign);
  }

  const int64_t archKey = gguf_find_key(ctx, "general.architecture");
  if (archKey < 0 || gguf_get_kv_type(ctx, archKey) != GGUF_TYPE_STRING) return "";
  const std::string prefix = std::string(gguf_get_val_str(ctx, archKey)) + ".";
  for (int64_t i = 0; i < gguf_get_n_kv(ctx); i++) {
    const std::string key = gguf_get_key(ctx, i);
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    const gguf_type type = gguf_get_kv_type(ctx, i);
    std::string problem;
    if (type == GGUF_TYPE_FLOAT32) problem = checkFloat(key, gguf_get_val_f32(ctx, i));
    if (type == GGUF_TYPE_FLOAT64) problem = checkFloat(key, gguf_get_val_f64(ctx, i));
    if (type == GGUF_TYPE_ARRAY && gguf_get_arr_type(ctx, i) == GGUF_TYPE_FLOAT32) {
      const auto* data = static_cast<const float*>(gguf_get_arr_data(ctx, i));
      for (size_t j = 0; j < gguf_get_arr_n(ctx, i) && problem.empty(); j++) {
        problem = checkFloat(key + "[" + std::to_string(j) + "]", data[j]);
      }
    }
    if (!problem.empty()) return problem;
  }
  // llama.cpp keeps per-layer arrays of LLAMA_MAX_LAYERS (512, llama-hparams.h) entries.
  const int64_t layersKey = gguf_find_key(ctx, (prefix + "block_count").c_str());
  int64_t layers = 0;
  if (layersKey >= 0 && integerValue(ctx, layersKey, layers) && (layers < 1 || layers > 512)) {
    return prefix + "block_count is " + std::to_string(layers) + ": expected 1 to 512 layers";
  }
  return "";
}

Napi::Value ReadGguf(const Napi::CallbackInfo& info) {
  auto* worker = new ReadGgufWorker(info.Env(), StringArg(info, 0, "path"));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace akachat
