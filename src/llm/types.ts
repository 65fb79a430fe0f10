/**
 * Types every layer above the engine shares (prompts, runs, HTTP, Batch): one chat message type
 * and one shape of generation settings. They live here, below `prompt`, so that `llm` needs
 * nothing from the layers that use it.
 */
import type { ToolCall } from '../engine/chat-format.js';

export type { ChatFormatOptions, ChatReply, ChatTool, ReasoningFormat, ToolCall, ToolChoice } from '../engine/chat-format.js';

/** Roles a chat message may have, as in the OpenAI chat format. */
export const CHAT_ROLES = ['system', 'user', 'assistant', 'tool'] as const;

export type ChatRole = (typeof CHAT_ROLES)[number];

/** One chat message: the unit of `log/messages.jsonl`, of messages mode and of the chat routes. */
export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** Assistant turns of tool-using chats: the calls the model made. */
  toolCalls?: ToolCall[];
  /** `tool` turns: the id of the call this is the result of. */
  toolCallId?: string;
  /** `tool` turns: the function's name. */
  name?: string;
}

/** Structured output asked for; plain text is the absence of one. */
export type ResponseFormat =
  | { type: 'json_object' }
  | { type: 'json_schema'; schema: Record<string, unknown>; name?: string; strict?: boolean };

/**
 * Generation settings in the one shape they travel in from a request to the engine (field names
 * as the engine's `generate()` options), defaults applied. A request's own fields are a
 * `Partial` of these (SamplingParams); stored prompt options map onto them.
 */
export interface GenerationSettings {
  /** Most tokens to generate. */
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  /** 1 = off. */
  repeatPenalty: number;
  /** 0 = off. */
  presencePenalty: number;
  /** 0 = off. */
  frequencyPenalty: number;
  /** Undefined = random. */
  seed?: number;
  stop: string[];
  /** Structured output: local models are held to it by a grammar, remote services get it as they take it. */
  responseFormat?: ResponseFormat;
  /** GBNF grammar (llama.cpp's format) local output must match; not together with responseFormat. */
  grammar?: string;
  /** Context size; undefined = the backend's default. */
  contextSize?: number;
}

export const DEFAULT_GENERATION_SETTINGS: Readonly<GenerationSettings> = Object.freeze({
  maxTokens: 512,
  temperature: 0.8,
  topP: 0.95,
  topK: 40,
  minP: 0.05,
  repeatPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  stop: [],
});
