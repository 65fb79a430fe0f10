/**
 * What a run is asked for, the same for every front end (HTTP dialects, the CLI, Batch): chat
 * messages and the caller's generation parameters. Each HTTP dialect normalises its body into
 * these (src/http/openai-normalize.ts).
 */
import type { ChatMessage, ChatRole } from '../llm/types.js';

export type { ChatMessage, ChatRole };

/** Structured output asked for by the client; plain text is the absence of one. */
export type ResponseFormat =
  | { type: 'json_object' }
  | { type: 'json_schema'; schema: Record<string, unknown>; name?: string; strict?: boolean };

/** Generation parameters common to every dialect; absent = the prompt's or model's default. */
export interface SamplingParams {
  /** Most tokens to generate; the route clamps it to what fits the context. */
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repeatPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  seed?: number;
  /** Non-empty stop strings. */
  stop?: string[];
  responseFormat?: ResponseFormat;
  /** Context size asked for (Ollama `num_ctx`). */
  contextSize?: number;
  /** Whether to reuse the cached prompt (llama.cpp `cache_prompt`). */
  cachePrompt?: boolean;
}
