/**
 * akachat: local LLMs through llama.cpp compiled in via akachat's own N-API binding, saved
 * prompts whose instructions call functions, RAG collections, and the stores of an akachat
 * data folder. The HTTP adapter is a separate entry point: `akachat/http`.
 */
export * from './errors.js';
export * from './engine/index.js';

export { Akachat } from './akachat.js';
export type { AkachatOptions } from './akachat.js';
export * from './rag/index.js';
export { engineEmbedderFactory } from './llm/embedder.js';
export { Prompt } from './prompt/prompt.js';
export type { PromptRunOptions, PromptRunResult, PromptStream } from './prompt/prompt.js';
export { PromptStore } from './prompt/store.js';
export type { StoredPrompt } from './prompt/store.js';
export {
  normalizeOptions, mergeOptions, toRawOptions, generationSettings, usesChatMessages, dtypeToGgufType, callerOverrides,
  DEFAULT_GENERATION_SETTINGS,
} from './prompt/options.js';
export type { PromptOptions, RawOptions, GenerationSettings, Provider } from './prompt/options.js';
export { buildMessages, buildTemplateText } from './prompt/messages.js';
export type { ChatRole, Segment } from './prompt/messages.js';
export type { ChatMessage as PromptMessage } from './prompt/messages.js';
export { parseInstruction, evaluateInstruction, renderInstruction } from './prompt/instruction/index.js';
export type { InstructionContext, InstructionTree } from './prompt/instruction/index.js';
export { VarStore } from './vars/store.js';
export { MessageLog } from './messages/log.js';
export { Settings } from './settings/settings.js';
export { Presets } from './settings/presets.js';
export { SpeechLog } from './logs/speech-log.js';
export { redactOptions, redactUrl } from './settings/redact.js';
export * from './batch/index.js';

export { ModelManager } from './llm/model-manager.js';
export type { ModelManagerOptions, ModelEvent, ModelLease, AcquireOptions } from './llm/model-manager.js';
export { downloadHubModel, parseHubReference, DownloadError } from './llm/hub.js';
export type { DownloadProgress, HubOptions } from './llm/hub.js';
export { LocalLlm } from './llm/local.js';
export { OpenAiLlm } from './llm/openai.js';
export type { OpenAiLlmOptions } from './llm/openai.js';
export { LlmStream } from './llm/stream.js';
export type { LlmResult, LlmTimings, LlmUsage } from './llm/stream.js';
export type { LlmChatOptions, LlmRequest } from './llm/request.js';
