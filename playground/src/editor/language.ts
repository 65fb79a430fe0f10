/**
 * Highlighting of instructions: plain text outside `{ ... }`, and inside a placeholder the
 * expression language (functions, `var.key`, `input`, strings, numbers, keywords). `{{` and `}}`
 * are literal braces. A stream parser is enough: the language has no block structure, and the
 * real parser (lint.ts) reports the errors.
 */
import { StreamLanguage, type StringStream } from '@codemirror/language';
import { INSTRUCTION_FUNCTIONS } from '../../../src/prompt/instruction/tree';

interface State {
  /** Inside a placeholder. */
  expression: boolean;
  /** Open brackets inside the placeholder, so a `}` of a nested `{` does not close it. */
  depth: number;
  /** The previous token was `var` followed by `.`: the next name is a var key. */
  afterVarDot: boolean;
}

const KEYWORDS = new Set(['and', 'or', 'not']);
const CONSTANTS = new Set(['True', 'False', 'None', 'true', 'false', 'null']);

function token(stream: StringStream, state: State): string | null {
  if (!state.expression) {
    if (stream.match('{{') || stream.match('}}')) return 'escape';
    if (stream.eat('{')) {
      state.expression = true;
      state.depth = 0;
      return 'brace';
    }
    // Plain text up to the next brace.
    if (!stream.skipTo('{') && !stream.skipTo('}')) stream.skipToEnd();
    if (stream.current() === '') stream.next();
    return null;
  }
  if (stream.eatSpace()) return null;
  const afterVarDot = state.afterVarDot;
  state.afterVarDot = false;
  const ch = stream.peek()!;
  if (ch === '}' && state.depth === 0) {
    stream.next();
    state.expression = false;
    return 'brace';
  }
  if (ch === '"' || ch === "'") {
    stream.next();
    let escaped = false;
    for (let c = stream.next(); c !== undefined && c !== null; c = stream.next()) {
      if (c === ch && !escaped) break;
      escaped = !escaped && c === '\\';
    }
    return 'string';
  }
  if (stream.match(/^\d+(\.\d+)?([eE][+-]?\d+)?/)) return 'number';
  const name = stream.match(/^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*/u) as RegExpMatchArray | null;
  if (name) {
    const word = name[0];
    if (afterVarDot) return 'propertyName';
    if (word === 'var') {
      if (stream.peek() === '.') state.afterVarDot = true;
      return 'keyword';
    }
    if (word === 'input') return 'variableName.special';
    if (KEYWORDS.has(word)) return 'operatorKeyword';
    if (CONSTANTS.has(word)) return 'atom';
    if (Object.hasOwn(INSTRUCTION_FUNCTIONS, word)) return 'variableName.function';
    return 'invalid';
  }
  const c = stream.next()!;
  if (c === '.') {
    state.afterVarDot = afterVarDot;
    return 'punctuation';
  }
  if ('([{'.includes(c)) state.depth++;
  else if (')]}'.includes(c)) state.depth = Math.max(0, state.depth - 1);
  if ('=!<>-*'.includes(c)) {
    stream.eat('=');
    return 'operator';
  }
  return 'punctuation';
}

export const instructionLanguage = StreamLanguage.define<State>({
  name: 'akachat-instruction',
  startState: () => ({ expression: false, depth: 0, afterVarDot: false }),
  copyState: (s) => ({ ...s }),
  token,
  languageData: { closeBrackets: { brackets: ['(', '[', "'", '"'] } },
});

/** Where `offset` is: in text, or in a placeholder's expression (from its `{`). */
export function placeholderAt(text: string, offset: number): { start: number } | undefined {
  let start: number | undefined;
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < offset; i++) {
    const c = text[i];
    if (start === undefined) {
      if ((c === '{' || c === '}') && text[i + 1] === c) i++;
      else if (c === '{') {
        start = i;
        depth = 0;
      }
      continue;
    }
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if ('([{'.includes(c)) depth++;
    else if (c === '}' && depth === 0) start = undefined;
    else if (')]}'.includes(c)) depth = Math.max(0, depth - 1);
  }
  return start === undefined ? undefined : { start };
}
