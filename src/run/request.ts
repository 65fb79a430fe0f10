/**
 * What a run is asked for, the same for every front end (HTTP dialects, the CLI, Batch): chat
 * messages and the caller's generation parameters. Each HTTP dialect normalises its body into
 * these (src/http/openai-normalize.ts).
 */
import type { ChatMessage, ChatRole, GenerationSettings, ResponseFormat } from '../llm/types.js';

export type { ChatMessage, ChatRole, ResponseFormat };

/** A caller's generation parameters: the settings' shape, each absent = the prompt's or model's default. */
export interface SamplingParams extends Partial<Omit<GenerationSettings, 'contextSize'>> {
  /** Context size asked for (Ollama `num_ctx`); the owner's choice, so runs ignore it. */
  contextSize?: number;
  /** Whether to reuse the cached prompt (llama.cpp `cache_prompt`). */
  cachePrompt?: boolean;
}
