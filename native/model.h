// AddonModel: one loaded GGUF model (weights + vocabulary). Owns a llama_model_ptr.
// Loading runs on the libuv pool; tokenize/detokenize are quick and run on the JS thread.
// Contexts created from a model register here so dispose() can free them first. Chat templates
// need no model (RenderChatTemplate below).
#pragma once

#include <llama-cpp.h>
#include <napi.h>

#include <memory>
#include <set>
#include <string>

#include "common.h"

namespace akachat {

class AddonModel : public Napi::ObjectWrap<AddonModel> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit AddonModel(const Napi::CallbackInfo& info);
  ~AddonModel() override;

  llama_model* model() const { return model_.get(); }
  const llama_vocab* vocab() const { return llama_model_get_vocab(model_.get()); }
  bool loaded() const { return model_ != nullptr; }
  void attach(AddonContext* ctx) { contexts_.insert(ctx); }
  void detach(AddonContext* ctx) { contexts_.erase(ctx); }
  // Frees the model and every context made from it. Idempotent.
  void release();
  void setModel(llama_model* m) { model_.reset(m); }
  std::string tokenText(llama_token token, bool special) const;

 private:
  friend class LoadModelWorkerAccess;
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Metadata(const Napi::CallbackInfo& info);
  Napi::Value Tokenize(const Napi::CallbackInfo& info);
  Napi::Value Detokenize(const Napi::CallbackInfo& info);
  Napi::Value TokenPieces(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  void requireLoaded(Napi::Env env) const;
  Napi::Int32Array vocabTokensArg(const Napi::CallbackInfo& info) const;

  llama_model_ptr model_;
  std::set<AddonContext*> contexts_;

 public:
  bool loading_ = false;  // set on the JS thread while a load worker runs
};

// chatTemplateBuiltins() -> string[]: template names llama.cpp formats without Jinja.
Napi::Value ChatTemplateBuiltins(const Napi::CallbackInfo& info);
// renderChatTemplate(template, bos, eos, messages, addGenerationPrompt) -> string, on the
// calling thread (see model.cpp for why Jinja runs only in the template worker process).
Napi::Value RenderChatTemplate(const Napi::CallbackInfo& info);

}  // namespace akachat
