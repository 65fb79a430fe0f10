/**
 * Types every layer above the engine shares (prompts, runs, HTTP, Batch): one chat message type
 * and one shape of generation settings. They live here, below `prompt`, so that `llm` needs
 * nothing from the layers that use it.
 */

/** Roles a chat message may have, as in the OpenAI chat format. */
export const CHAT_ROLES = ['system', 'user', 'assistant', 'tool'] as const;

export type ChatRole = (typeof CHAT_ROLES)[number];

/** One chat message: the unit of `log/messages.jsonl`, of messages mode and of the chat routes. */
export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** The sampling and size settings a location needs, defaults applied. */
export interface GenerationSettings {
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  repetitionPenalty: number;
  /** Undefined = random. */
  seed?: number;
  stop: string[];
  maxNewTokens: number;
  /** Context size; undefined = the backend's default. */
  inputTokens?: number;
}

export const DEFAULT_GENERATION_SETTINGS: Readonly<GenerationSettings> = Object.freeze({
  temperature: 0.8,
  topP: 0.95,
  topK: 40,
  minP: 0.05,
  repetitionPenalty: 1,
  stop: [],
  maxNewTokens: 512,
});
