#include "chat.h"

#include <chat.h>

#include <llama-cpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "common.h"

namespace akachat {

namespace {

const char* triggerTypeName(common_grammar_trigger_type type) {
  switch (type) {
    case COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN: return "token";
    case COMMON_GRAMMAR_TRIGGER_TYPE_WORD: return "word";
    case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN: return "pattern";
    case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN_FULL: return "pattern_full";
  }
  return "word";
}

// The request part of common_chat_templates_inputs, from the OpenAI-shaped JSON the TS side
// validated (src/engine/chat-format.ts). llama.cpp's own oaicompat readers check the messages
// and tools once more and throw std::exception on anything malformed.
common_chat_templates_inputs inputsFrom(const common_json& in, const common_chat_templates* templates) {
  common_chat_templates_inputs inputs;
  inputs.use_jinja = true;
  inputs.messages = common_chat_msgs_parse_oaicompat(in.at("messages"));
  if (in.contains("tools")) inputs.tools = common_chat_tools_parse_oaicompat(in.at("tools"));
  inputs.tool_choice = common_chat_tool_choice_parse_oaicompat(in.value("tool_choice", std::string("auto")));
  // Unset: as llama-server, whatever the template supports.
  inputs.parallel_tool_calls = in.contains("parallel_tool_calls")
                                   ? in.value("parallel_tool_calls", false)
                                   : common_chat_templates_get_caps(templates)["supports_parallel_tool_calls"];
  inputs.add_generation_prompt = in.value("add_generation_prompt", true);
  inputs.reasoning_format = common_reasoning_format_from_name(in.value("reasoning_format", std::string("auto")));
  if (in.contains("chat_template_kwargs")) {
    for (auto item : in.at("chat_template_kwargs").items()) inputs.chat_template_kwargs[item.key()] = item.value().dump();
  }
  // As llama-server does: the enable_thinking kwarg also switches llama.cpp's own thinking handling.
  const auto thinking = inputs.chat_template_kwargs.find("enable_thinking");
  if (thinking != inputs.chat_template_kwargs.end()) {
    if (thinking->second == "false") inputs.enable_thinking = false;
    else if (thinking->second == "true") inputs.enable_thinking = true;
    else throw std::invalid_argument("Expected a boolean for chat_template_kwargs.enable_thinking");
  }
  return inputs;
}

// chatTemplateApply(template, bos, eos, inputs: JSON string) -> JSON string
// {prompt, format, formatName, grammar, grammarLazy, grammarTriggers: [{type, value}],
//  preservedTokens, additionalStops, generationPrompt, parser, supportsThinking,
//  thinkingStartTag, thinkingEndTags, supportsTools, parallelToolCalls}. Runs the Jinja template (and llama.cpp's template analysis,
// which runs it several more times) with no limit on time, memory or depth: akachat calls this only
// in its template worker process (src/engine/template-sandbox.ts).
Napi::Value ChatTemplateApply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string source = StringArg(info, 0, "template");
  const std::string bos = StringArg(info, 1, "bos");
  const std::string eos = StringArg(info, 2, "eos");
  const std::string json = StringArg(info, 3, "inputs");
  if (source.empty()) source = "chatml";
  try {
    clearRecentErrors();
    std::shared_ptr<common_chat_templates> templates = ChatTemplatesFor(source, bos, eos);
    const common_chat_templates_inputs inputs = inputsFrom(common_json::parse(json), templates.get());
    const common_chat_params params = common_chat_templates_apply(templates.get(), inputs);
    common_json out = common_json::object();
    out["prompt"] = params.prompt;
    out["format"] = static_cast<int>(params.format);
    out["formatName"] = common_chat_format_name(params.format);
    out["grammar"] = params.grammar;
    out["grammarLazy"] = params.grammar_lazy;
    common_json triggers = common_json::array();
    for (const auto& trigger : params.grammar_triggers) {
      triggers.push_back(common_json::object({{"type", triggerTypeName(trigger.type)}, {"value", trigger.value}}));
    }
    out["grammarTriggers"] = triggers;
    out["preservedTokens"] = params.preserved_tokens;
    out["additionalStops"] = params.additional_stops;
    out["generationPrompt"] = params.generation_prompt;
    out["parser"] = params.parser;
    out["supportsThinking"] = params.supports_thinking;
    out["thinkingStartTag"] = params.thinking_start_tag;
    out["thinkingEndTags"] = params.thinking_end_tags;
    out["supportsTools"] = common_chat_templates_get_caps(templates.get())["supports_tools"];
    out["parallelToolCalls"] = inputs.parallel_tool_calls;
    return Napi::String::New(env, out.dump());
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    const std::string reason = recentErrors();
    ThrowError(env, std::string("Chat template failed: ") + e.what() + (reason.empty() ? "" : " (" + reason + ")"),
               "TEMPLATE_ERROR");
  }
}

// new ChatParser({format, reasoningFormat, generationPrompt, parser, parseToolCalls}): the parser
// chatTemplateApply returned, loaded once for a whole reply. parse(text, isPartial) -> {content,
// reasoningContent, toolCalls: [{name, arguments, id}]}; a reply that does not match the format
// throws (code PARSE_ERROR). Runs no template code: a PEG parser over the model's text.
class ChatParser : public Napi::ObjectWrap<ChatParser> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "ChatParser", {InstanceMethod<&ChatParser::Parse>("parse")});
  }

  explicit ChatParser(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ChatParser>(info) {
    Napi::Env env = info.Env();
    Napi::Object o = ObjectArg(info, 0, "options");
    try {
      params_.format = static_cast<common_chat_format>(NumberOpt(o, "format", COMMON_CHAT_FORMAT_CONTENT_ONLY));
      if (params_.format < 0 || params_.format >= COMMON_CHAT_FORMAT_COUNT) {
        ThrowError(env, "Expected a llama.cpp chat format number for format", "INVALID_ARGUMENT");
      }
      params_.reasoning_format = common_reasoning_format_from_name(StringOpt(o, "reasoningFormat", "auto"));
      params_.generation_prompt = StringOpt(o, "generationPrompt", "");
      params_.parse_tool_calls = BoolOpt(o, "parseToolCalls", true);
      const std::string parser = StringOpt(o, "parser", "");
      if (!parser.empty()) params_.parser.load(parser);
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      ThrowError(env, std::string("Invalid chat parser: ") + e.what(), "INVALID_ARGUMENT");
    }
  }

 private:
  Napi::Value Parse(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string text = StringArg(info, 0, "text");
    const bool partial = info.Length() > 1 && info[1].ToBoolean().Value();
    common_chat_msg msg;
    try {
      msg = common_chat_parse(text, partial, params_);
    } catch (const std::exception& e) {
      ThrowError(env, e.what(), "PARSE_ERROR");
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("content", msg.content);
    out.Set("reasoningContent", msg.reasoning_content);
    Napi::Array calls = Napi::Array::New(env, msg.tool_calls.size());
    for (size_t i = 0; i < msg.tool_calls.size(); i++) {
      Napi::Object call = Napi::Object::New(env);
      call.Set("name", msg.tool_calls[i].name);
      call.Set("arguments", msg.tool_calls[i].arguments);
      call.Set("id", msg.tool_calls[i].id);
      calls.Set(static_cast<uint32_t>(i), call);
    }
    out.Set("toolCalls", calls);
    return out;
  }

  common_chat_parser_params params_;
};

// A JS array of strings or numbers, or nothing (undefined).
template <typename T>
std::vector<T> listOpt(const Napi::Object& o, const char* key) {
  std::vector<T> out;
  Napi::Value value = o.Get(key);
  if (value.IsUndefined()) return out;
  if (!value.IsArray()) ThrowError(o.Env(), std::string("Expected an array for ") + key, "INVALID_ARGUMENT");
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if constexpr (std::is_same_v<T, std::string>) {
      if (!item.IsString()) ThrowError(o.Env(), std::string("Expected strings in ") + key, "INVALID_ARGUMENT");
      out.push_back(item.As<Napi::String>().Utf8Value());
    } else {
      if (!item.IsNumber()) ThrowError(o.Env(), std::string("Expected numbers in ") + key, "INVALID_ARGUMENT");
      out.push_back(static_cast<T>(item.As<Napi::Number>().Int32Value()));
    }
  }
  return out;
}

}  // namespace

std::shared_ptr<common_chat_templates> ChatTemplatesFor(const std::string& source, const std::string& bos,
                                                        const std::string& eos) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<common_chat_templates>> cache;
  const std::string key = source + '\0' + bos + '\0' + eos;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto found = cache.find(key);
    if (found != cache.end()) return found->second;
  }
  // Parsing runs the template too (llama.cpp probes its capabilities), so not under the lock.
  std::shared_ptr<common_chat_templates> parsed(common_chat_templates_init(nullptr, source, bos, eos).release(),
                                                common_chat_templates_free);
  std::lock_guard<std::mutex> lock(mutex);
  if (cache.size() >= 16) cache.clear();  // templates in use are few; bound the cache anyway
  cache.emplace(key, parsed);
  return parsed;
}

llama_sampler* InitGrammarSampler(const Napi::Object& o, const llama_vocab* vocab, const std::string& grammar) {
  const std::vector<std::string> patterns = listOpt<std::string>(o, "grammarTriggerPatterns");
  const std::vector<llama_token> tokens = listOpt<llama_token>(o, "grammarTriggerTokens");
  const std::vector<llama_token> prefill = listOpt<llama_token>(o, "grammarPrefill");
  const int32_t nVocab = llama_vocab_n_tokens(vocab);
  for (llama_token t : tokens) {
    if (t < 0 || t >= nVocab) ThrowError(o.Env(), "Grammar trigger token " + std::to_string(t) + " is outside the vocabulary", "INVALID_ARGUMENT");
  }
  for (llama_token t : prefill) {
    if (t < 0 || t >= nVocab) ThrowError(o.Env(), "Grammar prefill token " + std::to_string(t) + " is outside the vocabulary", "INVALID_ARGUMENT");
  }
  llama_sampler_ptr sampler;
  try {
    if (patterns.empty() && tokens.empty()) {
      sampler.reset(llama_sampler_init_grammar(vocab, grammar.c_str(), "root"));
    } else {
      std::vector<const char*> cpatterns;
      for (const auto& p : patterns) cpatterns.push_back(p.c_str());
      sampler.reset(llama_sampler_init_grammar_lazy_patterns(vocab, grammar.c_str(), "root", cpatterns.data(),
                                                             cpatterns.size(), tokens.data(), tokens.size()));
    }
  } catch (const std::exception& e) {  // an invalid trigger pattern (std::regex_error)
    ThrowError(o.Env(), std::string("Invalid grammar trigger pattern: ") + e.what(), "INVALID_ARGUMENT");
  }
  if (!sampler) return nullptr;
  try {
    for (llama_token t : prefill) llama_sampler_accept(sampler.get(), t);
  } catch (const std::exception& e) {
    ThrowError(o.Env(), std::string("The grammar does not accept the generation prompt: ") + e.what(), "INVALID_ARGUMENT");
  }
  return sampler.release();
}

void InitChat(Napi::Env env, Napi::Object exports) {
  exports.Set("chatTemplateApply", Napi::Function::New(env, ChatTemplateApply, "chatTemplateApply"));
  exports.Set("ChatParser", ChatParser::Init(env));
}

}  // namespace akachat
