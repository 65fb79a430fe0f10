// llama.cpp's chat layer (common/chat.h): a chat rendered with tools, tool choice and reasoning
// settings into a prompt plus what generation and parsing need (grammar, lazy triggers, parser),
// and a model's reply parsed back into content, reasoning and tool calls.
#pragma once

#include <llama.h>
#include <napi.h>

#include <memory>
#include <string>

struct common_chat_templates;

namespace akachat {

// Adds chatTemplateApply and ChatParser to the addon's exports.
void InitChat(Napi::Env env, Napi::Object exports);

// llama.cpp's parsed chat templates for (source, bos, eos), cached: parsing costs milliseconds (and
// runs the template). Throws std::exception for a template that does not parse. Worker process only.
std::shared_ptr<common_chat_templates> ChatTemplatesFor(const std::string& source, const std::string& bos,
                                                        const std::string& eos);

// The grammar sampler for generate() options `o` (JS thread): plain, or lazy as llama.cpp's tool-call
// grammars are (`grammarTriggerPatterns`: regular expressions over the generated text,
// `grammarTriggerTokens`: token ids; the grammar applies from the first match on), after accepting
// `grammarPrefill` (Int32Array: the generation prompt's tokens, which those grammars start with).
// nullptr when the grammar does not parse; throws a JS error when the prefill does not match it.
llama_sampler* InitGrammarSampler(const Napi::Object& o, const llama_vocab* vocab, const std::string& grammar);

}  // namespace akachat
