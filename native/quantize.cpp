#include "quantize.h"

#include <llama.h>

#include "common.h"
#include "gguf.h"

namespace akachat {

namespace {

class QuantizeWorker : public PromiseWorker {
 public:
  QuantizeWorker(Napi::Env env, std::string input, std::string output, int ftype, int threads)
      : PromiseWorker(env, "akachat.quantize"), input_(std::move(input)), output_(std::move(output)) {
    code_ = "QUANTIZE_FAILED";
    params_ = llama_model_quantize_default_params();
    params_.ftype = static_cast<llama_ftype>(ftype);
    params_.nthread = threads;
  }

 protected:
  void Run() override {
    // The same checks as a load (gguf.cpp): quantizing reads the hyper-parameters too.
    std::string problem = CheckModelFile(input_, true);
    if (!problem.empty()) {
      SetError("Refusing to quantize " + input_ + ": " + problem);
      return;
    }
    AssertsThrow assertsThrow;  // an assert on the input's metadata (on this thread) fails the job
    if (llama_model_quantize(input_.c_str(), output_.c_str(), &params_) != 0) {
      FailWithLog("Failed to quantize " + input_ + " to " + output_);
    }
  }
  Napi::Value Resolve(Napi::Env env) override { return env.Undefined(); }

 private:
  std::string input_, output_;
  llama_model_quantize_params params_;
};

}  // namespace

Napi::Value Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string input = StringArg(info, 0, "input");
  std::string output = StringArg(info, 1, "output");
  if (info.Length() < 3 || !info[2].IsNumber()) ThrowError(env, "Expected a number for ftype", "INVALID_ARGUMENT");
  int threads = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
  auto* worker = new QuantizeWorker(env, input, output, info[2].As<Napi::Number>().Int32Value(), threads);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace akachat
