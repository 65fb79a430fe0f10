import { InvalidArgumentError } from '../../errors.js';
import { isChatMessage, type ChatMessage, type ChatRole } from '../messages.js';
import type { InstructionValue } from './tree.js';

// `user:`, `ai:`, `assistant:`, `system:`; case-insensitive, full-width colon accepted for IME input.
const ROLE_PREFIX = /^[ \t\u3000]*(user|ai|assistant|system)[ \t\u3000]*[:：]/i;

/**
 * Parses `role: content` lines into chat messages (the `msgf()` format). The roles are
 * `user`, `ai` (meaning assistant), `assistant` and `system`, in any case. A line without a
 * prefix continues the previous message; blank lines before the first message are skipped,
 * other text there is an error. Contents are trimmed.
 */
export function parseMessageLines(text: string): ChatMessage[] {
  const messages: ChatMessage[] = [];
  let current: { role: ChatRole; lines: string[] } | undefined;
  const flush = () => {
    if (current) messages.push({ role: current.role, content: current.lines.join('\n').trim() });
  };
  const lines = text.split(/\r?\n/);
  lines.forEach((line, index) => {
    const prefix = ROLE_PREFIX.exec(line);
    if (prefix) {
      flush();
      const name = prefix[1].toLowerCase();
      current = { role: name === 'ai' ? 'assistant' : (name as ChatRole), lines: [line.slice(prefix[0].length)] };
    } else if (current) {
      current.lines.push(line);
    } else if (line.trim() !== '') {
      throw new InvalidArgumentError(
        `Expected a role prefix (user:, ai:, assistant:, system:) on line ${index + 1} but received ${quoted(line)}`,
      );
    }
  });
  flush();
  return messages;
}

/** `msgf(v)`: a string of `role: content` lines, or a list of such strings and messages. */
export function messagesFromValue(value: InstructionValue): ChatMessage[] {
  if (typeof value === 'string') return parseMessageLines(value);
  if (isChatMessage(value)) return [{ role: value.role, content: value.content }];
  if (Array.isArray(value)) {
    const items = value as readonly InstructionValue[];
    return items.flatMap((item, index) => {
      if (typeof item !== 'string' && !isChatMessage(item) && !Array.isArray(item)) {
        throw new InvalidArgumentError(`Expected a string or a message for item ${index + 1} but received ${describeInstructionValue(item)}`);
      }
      return messagesFromValue(item);
    });
  }
  throw new InvalidArgumentError(`Expected a string or a list for v but received ${describeInstructionValue(value)}`);
}

/** A name or text quoted for an error message, shortened so hostile input cannot bloat messages. */
export function quoted(text: string, max = 40): string {
  return JSON.stringify(text.length > max ? text.slice(0, max - 3) + '...' : text);
}

/** Short description of a value for error messages, in the language's own terms. */
export function describeInstructionValue(value: InstructionValue): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return `number ${value}`;
  if (typeof value === 'string') return quoted(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return 'a message';
}
