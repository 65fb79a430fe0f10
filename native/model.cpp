#include "model.h"

#include <chat.h>
#include <fit.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

#include "chat.h"
#include "context.h"
#include "gguf.h"

namespace akachat {

namespace {

std::string pieceOf(const llama_vocab* vocab, llama_token token, bool special) {
  char buf[256];
  int32_t n = llama_token_to_piece(vocab, token, buf, sizeof buf, 0, special);
  if (n >= 0) return std::string(buf, static_cast<size_t>(n));
  std::string big(static_cast<size_t>(-n), '\0');
  n = llama_token_to_piece(vocab, token, big.data(), static_cast<int32_t>(big.size()), 0, special);
  return n >= 0 ? big.substr(0, static_cast<size_t>(n)) : std::string();
}

void tokenizeAll(const llama_vocab* vocab, const std::string& text, bool addSpecial, bool parseSpecial,
                 std::vector<llama_token>& out) {
  out.resize(text.size() + 8);
  int32_t n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                             static_cast<int32_t>(out.size()), addSpecial, parseSpecial);
  if (n < 0) {
    out.resize(static_cast<size_t>(-n));
    n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), out.data(), -n, addSpecial, parseSpecial);
  }
  out.resize(static_cast<size_t>(std::max<int32_t>(n, 0)));
}

// The bytes of an RWKV token: its text unescaped as llama.cpp's RWKV tokenizer reads it (\t, \n,
// \r, \xHH with lower-case hex, and \c for any other c; a cut-off escape adds nothing).
std::string rwkvBytes(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] != '\\') {
      out += text[i];
    } else if (i + 1 < text.size() && text[i + 1] != 'x') {
      const char c = text[++i];
      out += c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c;
    } else if (i + 3 < text.size()) {
      unsigned value = 0;
      for (size_t k = i + 2; k < i + 4; k++) value = value * 16 + static_cast<unsigned>(text[k] >= 'a' ? text[k] - 'a' + 10 : text[k] - '0');
      out += static_cast<char>(value & 0xff);
      i += 3;
    } else {
      break;
    }
  }
  return out;
}

// llama.cpp's RWKV tokenizer takes the longest token that matches at each place, and starts
// over from the beginning of the text, for ever, when text begins like some token but no token
// matches (its output grows until memory runs out). That cannot happen when every byte that
// starts a token is a token by itself. Returns "" or the reason.
std::string checkRwkvBytes(const llama_vocab* vocab) {
  bool starts[256] = {};
  bool single[256] = {};
  for (llama_token t = 0; t < llama_vocab_n_tokens(vocab); t++) {
    const std::string bytes = rwkvBytes(llama_vocab_get_text(vocab, t));
    if (bytes.empty()) continue;
    starts[static_cast<uint8_t>(bytes[0])] = true;
    if (bytes.size() == 1) single[static_cast<uint8_t>(bytes[0])] = true;
  }
  for (int b = 0; b < 256; b++) {
    if (starts[b] && !single[b]) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", b);
      return std::string("RWKV tokens start with byte ") + hex + " but none is that byte alone";
    }
  }
  return "";
}

// A malformed vocabulary (a byte token renamed, a special id that does not fit its tokenizer)
// passes llama.cpp's loader and then throws or asserts when a token is turned into text (in a
// generation's decode loop, where that ends the process) or when text is tokenized. So every
// token is turned into text once here, under AssertsThrow, and the special tokens' texts are
// tokenized with BOS/EOS added. Text that needs a byte the vocabulary cannot encode is not
// tried: some SentencePiece vocabularies have no byte tokens, and tokenize() reports that text
// as an error (vocabCall). Returns "" or the reason. Costs about 60 ms of a load for a 32k-token
// vocabulary (median of 7 loads, busy 2-core VM).
std::string checkVocabulary(const llama_model* model) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  if (llama_vocab_type(vocab) == LLAMA_VOCAB_TYPE_RWKV) {
    std::string problem = checkRwkvBytes(vocab);
    if (!problem.empty()) return problem;
  }
  try {
    const int32_t n = llama_vocab_n_tokens(vocab);
    std::string probe = "hello world";
    for (llama_token t = 0; t < n; t++) {
      pieceOf(vocab, t, false);
      const std::string special = pieceOf(vocab, t, true);
      if (llama_vocab_get_attr(vocab, t) & (LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_USER_DEFINED)) probe += special;
    }
    std::vector<llama_token> tokens;
    tokenizeAll(vocab, probe, true, true, tokens);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// Model loading: copies the options into plain fields, loads on the pool thread, reports
// progress through a thread-safe function and stops when the abort flag is set.
class LoadModelWorker : public PromiseWorker {
 public:
  LoadModelWorker(Napi::Env env, AddonModel* target, Napi::Object self, std::string path, Napi::Object opts,
                  Napi::Value onProgress, AbortFlag abort)
      : PromiseWorker(env, "akachat.loadModel"), target_(target), path_(std::move(path)), abort_(std::move(abort)) {
    code_ = "MODEL_LOAD_FAILED";
    self_ = Napi::Persistent(self);
    params_ = llama_model_default_params();
    gpuLayers_ = static_cast<int>(NumberOpt(opts, "gpuLayers", -2));  // -2 = auto, -1 = all
    // useMmap: true (map the file), false (read it), undefined (llama.cpp decides).
    Napi::Value mmap = opts.Get("useMmap");
    if (mmap.IsBoolean()) params_.load_mode = mmap.As<Napi::Boolean>().Value() ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
    params_.check_tensors = BoolOpt(opts, "checkTensors", false);
    params_.vocab_only = BoolOpt(opts, "vocabOnly", false);
    if (onProgress.IsFunction()) {
      progress_ = Napi::ThreadSafeFunction::New(env, onProgress.As<Napi::Function>(), "akachat.loadProgress", 0, 1);
    }
  }
  ~LoadModelWorker() override {
    if (progress_) progress_.Release();
  }

 protected:
  void Run() override {
    if (abort_->load()) {
      code_ = "ABORTED";
      SetError("Model loading was aborted");
      return;
    }
    // A vocabulary-only load reads no hyper-parameters or weights.
    std::string problem = CheckModelFile(path_, !params_.vocab_only);
    if (!problem.empty()) {
      SetError("Refusing to load " + path_ + ": " + problem);
      return;
    }
    AssertsThrow assertsThrow;  // the loader's (and fitter's) asserts on this file fail the load
    bool hasGpu = false;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
      auto type = ggml_backend_dev_type(ggml_backend_dev_get(i));
      if (type == GGML_BACKEND_DEVICE_TYPE_GPU || type == GGML_BACKEND_DEVICE_TYPE_IGPU) hasGpu = true;
    }
    if (!hasGpu) {
      params_.n_gpu_layers = 0;
    } else if (gpuLayers_ == -2) {
      // 'auto': let llama.cpp's fitter choose the layers that fit in free device memory.
      llama_context_params cparams = llama_context_default_params();
      std::vector<float> split(llama_max_devices(), 0.0f);
      std::vector<llama_model_tensor_buft_override> overrides(llama_max_tensor_buft_overrides());
      std::vector<size_t> margins(llama_max_devices(), size_t(1) << 30);
      common_fit_params(path_.c_str(), &params_, &cparams, split.data(), overrides.data(), margins.data(), 4096,
                        nullptr, GGML_LOG_LEVEL_ERROR);
      installLogHook();  // the fitter swaps the global logger while it runs
      params_.tensor_split = nullptr;
      params_.tensor_buft_overrides = nullptr;
    } else {
      params_.n_gpu_layers = gpuLayers_;
    }
    params_.progress_callback = [](float progress, void* data) -> bool {
      auto* self = static_cast<LoadModelWorker*>(data);
      if (self->abort_->load()) return false;
      if (self->progress_ && (progress - self->lastProgress_ >= 0.01f || progress >= 1.0f)) {
        self->lastProgress_ = progress;
        auto* value = new float(progress);
        if (self->progress_.NonBlockingCall(value, [](Napi::Env env, Napi::Function fn, float* p) {
              if (env != nullptr) callJs(env, fn, {Napi::Number::New(env, *p)});
              delete p;
            }) != napi_ok) {
          delete value;
        }
      }
      return true;
    };
    params_.progress_callback_user_data = this;
    llama_model* model = llama_model_load_from_file(path_.c_str(), params_);
    if (model == nullptr) {
      if (abort_->load()) {
        code_ = "ABORTED";
        SetError("Model loading was aborted");
      } else {
        FailWithLog("Failed to load model " + path_);
      }
      return;
    }
    loaded_.reset(model);
    std::string broken = checkVocabulary(model);
    if (!broken.empty()) {
      loaded_.reset();
      SetError("Refusing to load " + path_ + ": its vocabulary is broken (" + broken + ")");
    }
  }

  Napi::Value Resolve(Napi::Env env) override {
    target_->loading_ = false;
    target_->setModel(loaded_.release());
    return env.Undefined();
  }

  void OnError(const Napi::Error& error) override {
    target_->loading_ = false;
    PromiseWorker::OnError(error);
  }

 private:
  AddonModel* target_;
  Napi::ObjectReference self_;  // keeps the JS wrapper alive while loading
  std::string path_;
  AbortFlag abort_;
  llama_model_params params_;
  int gpuLayers_;
  Napi::ThreadSafeFunction progress_;
  float lastProgress_ = -1.0f;
  llama_model_ptr loaded_;
};

// Runs vocabulary code on the JS thread: an exception or assert there (checkVocabulary should
// have refused such a file) becomes a JS error instead of ending the process.
template <typename F>
void vocabCall(Napi::Env env, F&& fn) {
  AssertsThrow assertsThrow;
  try {
    fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    ThrowError(env, std::string("The model's vocabulary failed: ") + e.what(), "NATIVE_ERROR");
  }
}

std::string metaValue(const llama_model* model, int32_t i) {
  int32_t n = llama_model_meta_val_str_by_index(model, i, nullptr, 0);
  if (n < 0) return "";
  std::string out(static_cast<size_t>(n) + 1, '\0');
  llama_model_meta_val_str_by_index(model, i, out.data(), out.size());
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string metaKey(const llama_model* model, int32_t i) {
  int32_t n = llama_model_meta_key_by_index(model, i, nullptr, 0);
  if (n < 0) return "";
  std::string out(static_cast<size_t>(n) + 1, '\0');
  llama_model_meta_key_by_index(model, i, out.data(), out.size());
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace

Napi::Function AddonModel::Init(Napi::Env env) {
  return DefineClass(env, "Model", {
    InstanceMethod<&AddonModel::Load>("load"),
    InstanceMethod<&AddonModel::Info>("info"),
    InstanceMethod<&AddonModel::Metadata>("metadata"),
    InstanceMethod<&AddonModel::Tokenize>("tokenize"),
    InstanceMethod<&AddonModel::Detokenize>("detokenize"),
    InstanceMethod<&AddonModel::TokenPieces>("tokenPieces"),
    InstanceMethod<&AddonModel::Dispose>("dispose"),
  });
}

AddonModel::AddonModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonModel>(info) {
  info.Env().GetInstanceData<AddonData>()->models.insert(this);
}

AddonModel::~AddonModel() {
  release();
  if (AddonData* data = Env().GetInstanceData<AddonData>()) data->models.erase(this);
}

void AddonModel::release() {
  // Contexts detach themselves while being released.
  while (!contexts_.empty()) (*contexts_.begin())->release();
  model_.reset();
}

void AddonModel::requireLoaded(Napi::Env env) const {
  if (!model_) ThrowError(env, loading_ ? "Model is still loading" : "Model has been disposed", "DISPOSED");
}

// load(path, options, onProgress?, abortToken?) -> Promise<void>
Napi::Value AddonModel::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (model_ || loading_) ThrowError(env, "Model is already loaded", "INVALID_STATE");
  std::string path = StringArg(info, 0, "path");
  Napi::Object opts = ObjectArg(info, 1, "options");
  auto* worker = new LoadModelWorker(env, this, info.This().As<Napi::Object>(), path, opts,
                                     info.Length() > 2 ? info[2] : env.Undefined(),
                                     AbortToken::FromValue(info.Length() > 3 ? info[3] : env.Undefined()));
  loading_ = true;
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value AddonModel::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireLoaded(env);
  const llama_model* m = model_.get();
  const llama_vocab* v = vocab();
  Napi::Object out = Napi::Object::New(env);
  char desc[256];
  llama_model_desc(m, desc, sizeof desc);
  out.Set("description", desc);
  out.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(llama_model_size(m))));
  out.Set("parameters", Napi::Number::New(env, static_cast<double>(llama_model_n_params(m))));
  out.Set("trainContextSize", llama_model_n_ctx_train(m));
  out.Set("embeddingSize", llama_model_n_embd(m));
  out.Set("layers", llama_model_n_layer(m));
  out.Set("vocabSize", llama_vocab_n_tokens(v));
  out.Set("hasEncoder", llama_model_has_encoder(m));
  out.Set("hasDecoder", llama_model_has_decoder(m));
  out.Set("isRecurrent", llama_model_is_recurrent(m) || llama_model_is_hybrid(m));
  const char* tmpl = llama_model_chat_template(m, nullptr);
  out.Set("chatTemplate", tmpl ? Napi::Value(Napi::String::New(env, tmpl)) : env.Null());
  const char* toolUse = llama_model_chat_template(m, "tool_use");
  out.Set("toolUseTemplate", toolUse ? Napi::Value(Napi::String::New(env, toolUse)) : env.Null());
  llama_token bos = llama_vocab_bos(v);
  llama_token eos = llama_vocab_eos(v);
  out.Set("bosToken", bos);
  out.Set("eosToken", eos);
  out.Set("bosText", bos >= 0 ? tokenText(bos, true) : "");
  out.Set("eosText", eos >= 0 ? tokenText(eos, true) : "");
  out.Set("addBos", llama_vocab_get_add_bos(v));
  return out;
}

// Every token passed checkVocabulary at load, so this cannot throw.
std::string AddonModel::tokenText(llama_token token, bool special) const {
  return pieceOf(vocab(), token, special);
}

Napi::Value AddonModel::Metadata(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireLoaded(env);
  Napi::Object out = Napi::Object::New(env);
  int32_t count = llama_model_meta_count(model_.get());
  for (int32_t i = 0; i < count; i++) out.Set(metaKey(model_.get(), i), metaValue(model_.get(), i));
  return out;
}

// tokenize(text, addSpecial, parseSpecial) -> Int32Array
Napi::Value AddonModel::Tokenize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireLoaded(env);
  std::string text = StringArg(info, 0, "text");
  bool addSpecial = info.Length() > 1 && info[1].ToBoolean().Value();
  bool parseSpecial = info.Length() > 2 && info[2].ToBoolean().Value();
  if (text.size() > static_cast<size_t>(INT32_MAX / 2)) ThrowError(env, "Text is too long to tokenize", "INVALID_ARGUMENT");
  std::vector<llama_token> tokens;
  vocabCall(env, [&] { tokenizeAll(vocab(), text, addSpecial, parseSpecial, tokens); });
  Napi::Int32Array out = Napi::Int32Array::New(env, tokens.size());
  std::memcpy(out.Data(), tokens.data(), sizeof(llama_token) * tokens.size());
  return out;
}

// The Int32Array of tokens at argument 0, each checked against the vocabulary.
Napi::Int32Array AddonModel::vocabTokensArg(const Napi::CallbackInfo& info) const {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowError(env, "Expected an Int32Array for tokens", "INVALID_ARGUMENT");
  }
  Napi::Int32Array tokens = info[0].As<Napi::Int32Array>();
  const int32_t nVocab = llama_vocab_n_tokens(vocab());
  for (size_t i = 0; i < tokens.ElementLength(); i++) {
    if (tokens[i] < 0 || tokens[i] >= nVocab) {
      ThrowError(env, "Token " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                          " is outside the vocabulary (0.." + std::to_string(nVocab - 1) + ")",
                 "INVALID_ARGUMENT");
    }
  }
  return tokens;
}

// tokenPieces(tokens: Int32Array, special) -> Uint8Array[]: each token's raw bytes, which for
// byte-level BPE and byte-fallback tokens may be part of a UTF-8 character (text would lose them).
Napi::Value AddonModel::TokenPieces(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireLoaded(env);
  Napi::Int32Array tokens = vocabTokensArg(info);
  const bool special = info.Length() > 1 && info[1].ToBoolean().Value();
  Napi::Array out = Napi::Array::New(env, tokens.ElementLength());
  for (size_t i = 0; i < tokens.ElementLength(); i++) {
    const std::string piece = tokenText(tokens[i], special);
    Napi::Uint8Array bytes = Napi::Uint8Array::New(env, piece.size());
    std::memcpy(bytes.Data(), piece.data(), piece.size());
    out.Set(static_cast<uint32_t>(i), bytes);
  }
  return out;
}

// detokenize(tokens: Int32Array, removeSpecial, unparseSpecial) -> string
Napi::Value AddonModel::Detokenize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireLoaded(env);
  Napi::Int32Array tokens = vocabTokensArg(info);
  bool removeSpecial = info.Length() > 1 && info[1].ToBoolean().Value();
  bool unparseSpecial = info.Length() > 2 && info[2].ToBoolean().Value();
  std::string out(tokens.ElementLength() * 8 + 16, '\0');
  int32_t n = 0;
  vocabCall(env, [&] {
    n = llama_detokenize(vocab(), tokens.Data(), static_cast<int32_t>(tokens.ElementLength()), out.data(),
                         static_cast<int32_t>(out.size()), removeSpecial, unparseSpecial);
    if (n < 0) {
      out.resize(static_cast<size_t>(-n));
      n = llama_detokenize(vocab(), tokens.Data(), static_cast<int32_t>(tokens.ElementLength()), out.data(),
                           static_cast<int32_t>(out.size()), removeSpecial, unparseSpecial);
    }
  });
  if (n < 0) ThrowError(env, "Detokenization failed", "NATIVE_ERROR");
  out.resize(static_cast<size_t>(n));
  return Napi::String::New(env, out);
}

namespace {

// The names llama.cpp formats with its C++ formatter (no Jinja).
std::vector<const char*> builtinTemplates() {
  std::vector<const char*> names(128);
  int32_t n = llama_chat_builtin_templates(names.data(), names.size());
  names.resize(static_cast<size_t>(std::max<int32_t>(0, std::min<int32_t>(n, 128))));
  return names;
}

}  // namespace

// chatTemplateBuiltins() -> string[]: the names llama.cpp formats without Jinja.
Napi::Value ChatTemplateBuiltins(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<const char*> names = builtinTemplates();
  Napi::Array out = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); i++) out.Set(static_cast<uint32_t>(i), names[i]);
  return out;
}

// renderChatTemplate(template, bos, eos, messages: {role, content}[], addGenerationPrompt) -> string
// `template` is a built-in name (llama.cpp's C++ formatter), "chatml" or a Jinja source; bos and
// eos are the token texts a Jinja template sees. Needs no model. Jinja runs here with no limit
// on time, memory or recursion depth (llama.cpp's engine has no hooks for any): akachat calls
// this for Jinja only in its template worker process (src/engine/template-sandbox.ts), where a
// template that never ends can stall or crash only that process.
Napi::Value RenderChatTemplate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string source = StringArg(info, 0, "template");
  std::string bos = StringArg(info, 1, "bos");
  std::string eos = StringArg(info, 2, "eos");
  if (info.Length() < 4 || !info[3].IsArray()) ThrowError(env, "Expected an array for messages", "INVALID_ARGUMENT");
  Napi::Array array = info[3].As<Napi::Array>();
  bool addAssistant = info.Length() > 4 ? info[4].ToBoolean().Value() : true;
  std::vector<common_chat_msg> messages;
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsObject()) ThrowError(env, "Expected an object for messages[" + std::to_string(i) + "]", "INVALID_ARGUMENT");
    common_chat_msg msg;
    msg.role = StringOpt(item.As<Napi::Object>(), "role", "");
    msg.content = StringOpt(item.As<Napi::Object>(), "content", "");
    messages.push_back(std::move(msg));
  }
  if (source.empty()) source = "chatml";  // llama.cpp's init asserts on "" without a model
  try {
    std::vector<const char*> builtins = builtinTemplates();
    if (source != "chatml" && std::any_of(builtins.begin(), builtins.end(), [&](const char* b) { return source == b; })) {
      std::vector<llama_chat_message> raw;
      for (const auto& m : messages) raw.push_back({m.role.c_str(), m.content.c_str()});
      std::string buf(4096, '\0');
      int32_t n = llama_chat_apply_template(source.c_str(), raw.data(), raw.size(), addAssistant, buf.data(),
                                            static_cast<int32_t>(buf.size()));
      if (n > static_cast<int32_t>(buf.size())) {
        buf.resize(static_cast<size_t>(n));
        n = llama_chat_apply_template(source.c_str(), raw.data(), raw.size(), addAssistant, buf.data(), n);
      }
      if (n < 0) ThrowError(env, "Chat template \"" + source + "\" could not be applied", "TEMPLATE_ERROR");
      buf.resize(static_cast<size_t>(n));
      return Napi::String::New(env, buf);
    }
    clearRecentErrors();
    std::shared_ptr<common_chat_templates> templates = ChatTemplatesFor(source, bos, eos);
    common_chat_templates_inputs inputs;
    inputs.messages = std::move(messages);
    inputs.add_generation_prompt = addAssistant;
    inputs.use_jinja = true;
    common_chat_params params = common_chat_templates_apply(templates.get(), inputs);
    return Napi::String::New(env, params.prompt);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string reason = recentErrors();
    ThrowError(env, std::string("Chat template failed: ") + e.what() + (reason.empty() ? "" : " (" + reason + ")"),
               "TEMPLATE_ERROR");
  }
}

Napi::Value AddonModel::Dispose(const Napi::CallbackInfo& info) {
  release();
  return info.Env().Undefined();
}

}  // namespace akachat
