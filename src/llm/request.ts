import type { ReplyFormat } from '../engine/chat-format.js';
import type { ChatFormatOptions, ChatMessage, GenerationSettings } from './types.js';
import type { TokenOptions } from '../engine/index.js';

/** Tools and reasoning settings of a chat (local models render them through llama.cpp's chat layer). */
export interface LlmChatOptions extends ChatFormatOptions {
  /**
   * Called once the chat is rendered, before any text: how to parse the reply as it streams (see
   * ChatReplyParser); undefined where llama.cpp has no parser for it (built-in template names).
   */
  onReplyFormat?: (format: ReplyFormat | undefined) => void;
}

/** One call to a model, the same for every location. */
export interface LlmRequest {
  /** Messages mode: the chat messages (the chat template is applied by the location). */
  messages?: ChatMessage[];
  /** Template mode: the whole prompt text. */
  text?: string;
  /** Messages mode: tools, tool choice, reasoning settings. */
  chat?: LlmChatOptions;
  /** Chat template override (local): Jinja source or a built-in name such as `chatml`. */
  chatTemplate?: string;
  settings: GenerationSettings;
  /** Local: token-level options (logit bias, probabilities, token ids and their listener). */
  tokens?: TokenOptions;
  /** Local: GGUF path or hf: reference; openai: model name. */
  model: string;
  /** Local precision (GGUF type), '' = as stored. */
  ggufType?: string;
  /** openai: base URL. */
  endpoint?: string;
  /** openai: the key configured together with `endpoint` (the `api_key` option). */
  apiKey?: string;
  signal?: AbortSignal;
}
