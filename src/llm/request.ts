import type { ChatMessage, GenerationSettings } from './types.js';
import type { TokenOptions } from '../engine/index.js';

/** One call to a model, the same for every location. */
export interface LlmRequest {
  /** Messages mode: the chat messages (the chat template is applied by the location). */
  messages?: ChatMessage[];
  /** Template mode: the whole prompt text. */
  text?: string;
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
