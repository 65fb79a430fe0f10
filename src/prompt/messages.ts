import { invalid } from '../validate.js';

import { CHAT_ROLES, type ChatMessage, type ChatRole } from '../llm/types.js';

export { CHAT_ROLES, type ChatMessage, type ChatRole };

/**
 * A piece of an evaluated instruction: literal or generated text, or chat messages spliced in
 * by `msgf()` / `msg()`. Adjacent segments of the same type are merged by the evaluator.
 */
export type Segment =
  | { type: 'text'; text: string }
  | { type: 'messages'; messages: ChatMessage[] };

export function isChatRole(value: unknown): value is ChatRole {
  return typeof value === 'string' && (CHAT_ROLES as readonly string[]).includes(value);
}

/** True when `value` is an object with a valid role and string content. */
export function isChatMessage(value: unknown): value is ChatMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return isChatRole(record.role) && typeof record.content === 'string';
}

/**
 * Checks one message from outside (a log line, an HTTP body) and returns a clean copy holding
 * only `role` and `content`.
 */
export function toChatMessage(value: unknown, name: string): ChatMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('a {"role", "content"} object', name, value);
  }
  const record = value as Record<string, unknown>;
  if (!isChatRole(record.role)) throw invalid(`a role (${CHAT_ROLES.join(', ')})`, `${name}.role`, record.role);
  if (typeof record.content !== 'string') throw invalid('a string', `${name}.content`, record.content);
  return { role: record.role, content: record.content };
}

/** Renders messages as `role: content` lines, the form used wherever messages meet plain text. */
export function renderMessagesAsText(messages: readonly ChatMessage[]): string {
  return messages.map((message) => `${message.role}: ${message.content}`).join('\n');
}

/** The evaluated instruction as one string: text kept, message arrays rendered as lines. */
export function renderSegmentsAsText(segments: readonly Segment[]): string {
  return segments
    .map((segment) => (segment.type === 'text' ? segment.text : renderMessagesAsText(segment.messages)))
    .join('');
}

/**
 * Builds the chat messages for messages mode (spec, "Building what the model sees"):
 * text segments become `system` messages in order (trimmed, empty ones dropped), message
 * arrays are spliced in place, then `history`, then one `user` message holding `input`.
 *
 * When `input` is empty (or only whitespace) the whole evaluated instruction, arrays
 * rendered as `role: content` lines, is sent as one `user` message after `history`; nothing
 * is sent for it when it is empty too. The input is never sent twice and the raw
 * (unevaluated) instruction is never sent. Every message is a fresh copy.
 */
export function buildMessages(
  segments: readonly Segment[],
  input: string,
  history: readonly ChatMessage[] = [],
): ChatMessage[] {
  const copies = (messages: readonly ChatMessage[]) => messages.map((m) => ({ role: m.role, content: m.content }));
  if (input.trim() === '') {
    const whole = renderSegmentsAsText(segments).trim();
    const result = copies(history);
    if (whole !== '') result.push({ role: 'user', content: whole });
    return result;
  }
  const result: ChatMessage[] = [];
  for (const segment of segments) {
    if (segment.type === 'messages') {
      result.push(...copies(segment.messages));
    } else {
      const text = segment.text.trim();
      if (text !== '') result.push({ role: 'system', content: text });
    }
  }
  result.push(...copies(history));
  result.push({ role: 'user', content: input });
  return result;
}

const TEMPLATE_PLACEHOLDER = /\{(instruction|input|bos_token)\}/g;

/**
 * Fills a text template (template mode): `{instruction}` gets the evaluated instruction
 * (message arrays rendered as `role: content` lines), `{input}` the input and `{bos_token}`
 * the model's BOS text. The replacement is one pass, so text coming from the instruction or
 * the input is never itself treated as a placeholder (the input appears only where the
 * template puts it). Any other text, braces included, is kept verbatim.
 */
export function buildTemplateText(
  template: string,
  segments: readonly Segment[],
  input: string,
  bosText = '',
): string {
  const values: Record<string, string> = {
    instruction: renderSegmentsAsText(segments),
    input,
    bos_token: bosText,
  };
  return template.replace(TEMPLATE_PLACEHOLDER, (_match, key: string) => values[key]);
}
