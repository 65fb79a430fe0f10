import { AbortError, TemplateError, throwIfAborted } from '../../errors.js';
import { isChatMessage, toChatMessage, type ChatMessage, type Segment } from '../messages.js';
import { describeInstructionValue, messagesFromValue, quoted } from './msgf.js';
import {
  DEFAULT_INSTRUCTION_LIMITS,
  type CallNode,
  type ComparisonOperator,
  type ExpressionNode,
  type InstructionFunctionName,
  type InstructionLimits,
  type InstructionTree,
  type InstructionValue,
  type SourcePosition,
} from './tree.js';

/** Where `var.key` values come from. A `Map<string, string>` fits; `undefined` means "not set". */
export interface VariableSource {
  get(key: string): string | undefined | Promise<string | undefined>;
}

/** Where `msg()` and `msgcount()` read the chat log from (a MessageLog fits). */
export interface MessageSource {
  /** The newest `limit` messages, oldest first; 0 = all. */
  newest(limit: number): readonly ChatMessage[] | Promise<readonly ChatMessage[]>;
  count(): number | Promise<number>;
}

/** Passed to wired functions along with their arguments. */
export interface NestedCallInfo {
  /** The depth a nested evaluation started by this call must use (the caller's depth + 1). */
  depth: number;
  signal?: AbortSignal;
}

/** `rag(dir, query, k)`: the top `k` chunks of collection `dir`; a list is joined with blank lines. */
export type RagFunction = (
  dir: string,
  query: string,
  k: number,
  info: NestedCallInfo,
) => string | readonly string[] | Promise<string | readonly string[]>;

/**
 * `llm(name, input, **overrides)`: runs saved prompt `name` with `input` and option overrides,
 * returning its generated text. To evaluate the nested instruction, pass `info.depth` as its
 * `depth` so runaway recursion stops at `maxDepth`.
 */
export type LlmFunction = (
  name: string,
  input: string,
  overrides: Record<string, unknown>,
  info: NestedCallInfo,
) => string | Promise<string>;

/**
 * One part of an instruction as evaluated, in order: literal text, or what one placeholder output
 * and which function produced it (the playground marks each function's output with it).
 */
export interface EvaluatedPart {
  /** `null` for literal text; otherwise the placeholder's outermost function, `input`, or `expression` (literals, operators). */
  source: InstructionFunctionName | 'input' | 'expression' | null;
  pos: SourcePosition;
  /** Its output: text (`''` when it printed nothing) or chat messages. */
  output: string | ChatMessage[];
}

/** Everything an instruction can reach. The caller wires the data sources and services. */
export interface InstructionContext {
  /** The user's input for this call (`input`). Default `''`. */
  input?: string;
  /** The setting `is_test`: `test(s)` outputs `s` only when this is on. Default `false`. */
  isTest?: boolean;
  /** The call came through the WebAPI: `test(s)` then always outputs nothing. Default `false`. */
  fromWebApi?: boolean;
  /** Source of `var.key`. Default: none (every variable is missing). */
  vars?: VariableSource;
  /** Source of `msg()` / `msgcount()`: a message source or a plain array. Default: none (error). */
  messages?: MessageSource | readonly ChatMessage[];
  /** Implementation of `rag()`. Default: none (`rag()` fails with "not available"). */
  rag?: RagFunction;
  /** Implementation of `llm()`. Default: none (`llm()` fails with "not available"). */
  llm?: LlmFunction;
  /** Nesting depth of this evaluation: 0 for a top-level prompt. Default 0. */
  depth?: number;
  /** Deepest `llm()` nesting allowed. Default 4. */
  maxDepth?: number;
  /** Output limit (`maxOutputLength`); the other limits apply when parsing. */
  limits?: Partial<InstructionLimits>;
  /** Cancels the evaluation; checked between placeholders and passed to wired functions. */
  signal?: AbortSignal;
  /** Hears every part of the instruction as it is evaluated, in order. Default: none. */
  onPart?: (part: EvaluatedPart) => void;
}

/** Default for {@link InstructionContext.maxDepth}. */
export const DEFAULT_MAX_PROMPT_DEPTH = 4;

/**
 * Evaluates a parsed instruction into text and chat-message segments (adjacent segments of
 * the same type merged, empty ones dropped). Errors are TemplateErrors naming the function
 * and its position; errors thrown by wired functions are wrapped (original as `cause`),
 * except AbortError, which passes through unchanged so cancellation stays recognizable.
 */
export async function evaluateInstruction(tree: InstructionTree, context: InstructionContext = {}): Promise<Segment[]> {
  return new InstructionEvaluator(context).run(tree);
}

class InstructionEvaluator {
  readonly #context: InstructionContext;
  readonly #maxOutput: number;
  readonly #segments: Segment[] = [];
  #outputLength = 0;

  constructor(context: InstructionContext) {
    this.#context = context;
    this.#maxOutput = { ...DEFAULT_INSTRUCTION_LIMITS, ...context.limits }.maxOutputLength;
  }

  async run(tree: InstructionTree): Promise<Segment[]> {
    for (const part of tree.parts) {
      throwIfAborted(this.#context.signal);
      if (part.kind === 'text') {
        this.#emitText(part.text, part.pos);
        this.#context.onPart?.({ source: null, pos: part.pos, output: part.text });
      } else {
        const output = printed(await this.#evaluate(part.expression), part.pos);
        if (typeof output === 'string') this.#emitText(output, part.pos);
        else this.#emitMessages(output, part.pos);
        this.#context.onPart?.({ source: sourceOf(part.expression), pos: part.pos, output });
      }
    }
    return this.#segments;
  }

  #emitText(text: string, pos: SourcePosition): void {
    if (text === '') return;
    this.#countOutput(text.length, pos);
    const last = this.#segments.at(-1);
    if (last?.type === 'text') last.text += text;
    else this.#segments.push({ type: 'text', text });
  }

  #emitMessages(messages: readonly ChatMessage[], pos: SourcePosition): void {
    if (messages.length === 0) return;
    this.#countOutput(messages.reduce((sum, m) => sum + m.content.length, 0), pos);
    const copies = messages.map((m) => ({ role: m.role, content: m.content }));
    const last = this.#segments.at(-1);
    if (last?.type === 'messages') last.messages.push(...copies);
    else this.#segments.push({ type: 'messages', messages: copies });
  }

  #countOutput(length: number, pos: SourcePosition): void {
    this.#outputLength += length;
    if (this.#outputLength > this.#maxOutput) {
      throw new TemplateError(`The evaluated instruction is longer than ${this.#maxOutput} characters`, pos.line, pos.column);
    }
  }

  async #evaluate(node: ExpressionNode): Promise<InstructionValue> {
    switch (node.kind) {
      case 'literal':
        return node.value;
      case 'input':
        return this.#context.input ?? '';
      case 'list': {
        const items: InstructionValue[] = [];
        for (const item of node.items) items.push(await this.#evaluate(item));
        return items;
      }
      case 'not':
        return !isTruthy(await this.#evaluate(node.operand));
      case 'negate': {
        const value = await this.#evaluate(node.operand);
        if (typeof value !== 'number') {
          throw new TemplateError(`Cannot negate ${describeInstructionValue(value)}: '-' applies to numbers`, node.pos.line, node.pos.column);
        }
        return -value;
      }
      case 'logical': {
        // Python semantics: short-circuit and return the deciding operand itself.
        let value: InstructionValue = null;
        for (const operand of node.operands) {
          value = await this.#evaluate(operand);
          if (node.operator === 'and' ? !isTruthy(value) : isTruthy(value)) return value;
        }
        return value;
      }
      case 'compare': {
        let left = await this.#evaluate(node.first);
        for (const link of node.rest) {
          const right = await this.#evaluate(link.right);
          if (!compare(left, link.operator, right, link.pos)) return false;
          left = right;
        }
        return true;
      }
      case 'var':
        return this.#readVariable(node.key, node.pos);
      case 'call':
        return this.#call(node);
    }
  }

  async #readVariable(keyNode: ExpressionNode, pos: SourcePosition): Promise<InstructionValue> {
    const key = await this.#evaluate(keyNode);
    if (typeof key !== 'string') {
      throw new TemplateError(`var: expected a string key but received ${describeInstructionValue(key)}`, pos.line, pos.column);
    }
    const label = /^[\p{L}_][\p{L}\p{N}_]{0,39}$/u.test(key) ? `var.${key}` : `var[${quoted(key)}]`;
    const source = this.#context.vars;
    if (!source) throw new TemplateError(`${label}: variable ${quoted(key)} is not set (no variables are available)`, pos.line, pos.column);
    const value = await this.#wrapCall(label, pos, () => source.get(key));
    if (value === undefined) throw new TemplateError(`${label}: variable ${quoted(key)} is not set`, pos.line, pos.column);
    if (typeof value !== 'string') {
      throw new TemplateError(`${label}: expected a string value but received ${typeof value}`, pos.line, pos.column);
    }
    this.#checkLength(label, value, pos);
    return value;
  }

  async #call(node: CallNode): Promise<InstructionValue> {
    const { pos, args } = node;
    const context = this.#context;
    const fail = (message: string) => new TemplateError(`${node.name}(): ${message}`, pos.line, pos.column);
    switch (node.name) {
      case 'comment':
        return ''; // never evaluated: a comment must not run anything
      case 'test':
        return context.isTest === true && context.fromWebApi !== true ? this.#evaluate(args[0]) : '';
      case 'iif':
        return isTruthy(await this.#evaluate(args[0])) ? this.#evaluate(args[1]) : this.#evaluate(args[2]);
      case 'msgf': {
        const value = await this.#evaluate(args[0]);
        try {
          return messagesFromValue(value);
        } catch (err) {
          throw fail((err as Error).message);
        }
      }
      case 'var':
        return this.#readVariable(args[0], pos); // bound to a var node by the parser; kept for completeness
      case 'msg': {
        const limit = await this.#evaluate(args[0]);
        if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) {
          throw fail(`Expected an integer >= 0 for limit but received ${describeInstructionValue(limit)}`);
        }
        const source = this.#messageSource(node.name, pos);
        const messages = await this.#wrapCall('msg()', pos, () => source.newest(limit));
        if (!Array.isArray(messages)) throw fail('the message source did not return a list');
        return messages.map((message, index) => {
          try {
            return toChatMessage(message, `message ${index + 1}`);
          } catch (err) {
            throw fail((err as Error).message);
          }
        });
      }
      case 'msgcount': {
        const source = this.#messageSource(node.name, pos);
        const count = await this.#wrapCall('msgcount()', pos, () => source.count());
        if (typeof count !== 'number') throw fail('the message source did not return a number');
        return count;
      }
      case 'rag':
        return this.#callRag(node, fail);
      case 'llm':
        return this.#callLlm(node, fail);
    }
  }

  async #callRag(node: CallNode, fail: (message: string) => TemplateError): Promise<InstructionValue> {
    const rag = this.#context.rag;
    if (!rag) throw fail('rag() is not available: no RAG collections are wired into this evaluation');
    const dir = await this.#evaluate(node.args[0]);
    const query = await this.#evaluate(node.args[1]);
    const k = await this.#evaluate(node.args[2]);
    if (typeof dir !== 'string' || dir === '') throw fail(`Expected a collection name for dir but received ${describeInstructionValue(dir)}`);
    if (typeof query !== 'string') throw fail(`Expected a string for query but received ${describeInstructionValue(query)}`);
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) throw fail(`Expected an integer >= 1 for k but received ${describeInstructionValue(k)}`);
    const info = { depth: this.#depth + 1, signal: this.#context.signal };
    const result = await this.#wrapCall('rag()', node.pos, () => rag(dir, query, k, info));
    const text = typeof result === 'string' ? result
      : Array.isArray(result) && result.every((chunk) => typeof chunk === 'string') ? result.join('\n\n')
        : undefined;
    if (text === undefined) throw fail('the RAG search did not return text');
    this.#checkLength('rag()', text, node.pos);
    return text;
  }

  async #callLlm(node: CallNode, fail: (message: string) => TemplateError): Promise<InstructionValue> {
    const llm = this.#context.llm;
    if (!llm) throw fail('llm() is not available: no prompt runner is wired into this evaluation');
    const maxDepth = this.#context.maxDepth ?? DEFAULT_MAX_PROMPT_DEPTH;
    if (this.#depth >= maxDepth) {
      throw fail(`prompts nest deeper than ${maxDepth} levels (does a prompt call itself?)`);
    }
    const name = await this.#evaluate(node.args[0]);
    const input = await this.#evaluate(node.args[1]);
    if (typeof name !== 'string' || name === '') throw fail(`Expected a prompt name for name but received ${describeInstructionValue(name)}`);
    if (typeof input !== 'string') throw fail(`Expected a string for input but received ${describeInstructionValue(input)}`);
    const overrides: Record<string, unknown> = {};
    for (const keyword of node.extraKeywords) {
      Object.defineProperty(overrides, keyword.name, {
        value: toPlainValue(await this.#evaluate(keyword.value)), enumerable: true, writable: true, configurable: true,
      });
    }
    const info = { depth: this.#depth + 1, signal: this.#context.signal };
    const text = await this.#wrapCall(`llm(${quoted(name)})`, node.pos, () => llm(name, input, overrides, info));
    if (typeof text !== 'string') throw fail('the nested prompt did not return text');
    this.#checkLength('llm()', text, node.pos);
    return text;
  }

  get #depth(): number {
    return this.#context.depth ?? 0;
  }

  #messageSource(name: string, pos: SourcePosition): MessageSource {
    const messages = this.#context.messages;
    if (!messages) {
      throw new TemplateError(`${name}(): ${name}() is not available: no message log is wired into this evaluation`, pos.line, pos.column);
    }
    if (isMessageArray(messages)) {
      return {
        newest: (limit) => (limit === 0 ? messages : messages.slice(-limit)),
        count: () => messages.length,
      };
    }
    return messages;
  }

  /** Runs a wired function; anything it throws becomes a TemplateError naming it (AbortError excepted). */
  async #wrapCall<T>(label: string, pos: SourcePosition, call: () => T | Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof AbortError) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      throw new TemplateError(`${label} failed: ${reason}`, pos.line, pos.column, { cause: err });
    }
  }

  #checkLength(label: string, text: string, pos: SourcePosition): void {
    if (text.length > this.#maxOutput) {
      throw new TemplateError(`${label}: the value is longer than ${this.#maxOutput} characters`, pos.line, pos.column);
    }
  }
}

/** What a placeholder's value prints as: text, or chat messages (a message or a list of them). */
function printed(value: InstructionValue, pos: SourcePosition): string | ChatMessage[] {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  // Booleans print as the original (Python) printed them; None prints nothing.
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (value === null) return '';
  const items: readonly InstructionValue[] = Array.isArray(value) ? value : [value];
  if (!items.every(isChatMessage)) {
    throw new TemplateError('Only text or chat messages can be output; turn a list into messages with msgf()', pos.line, pos.column);
  }
  return items as ChatMessage[];
}

function sourceOf(node: ExpressionNode): EvaluatedPart['source'] {
  if (node.kind === 'call') return node.name;
  if (node.kind === 'var' || node.kind === 'input') return node.kind;
  return 'expression';
}

function isMessageArray(value: MessageSource | readonly ChatMessage[]): value is readonly ChatMessage[] {
  return Array.isArray(value);
}

/** Python truthiness: '', 0, None, False and empty lists are false. */
export function isTruthy(value: InstructionValue): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return value !== '' && value !== 0 && value !== null && value !== false;
}

function compare(left: InstructionValue, operator: ComparisonOperator, right: InstructionValue, pos: SourcePosition): boolean {
  if (operator === '==') return valuesEqual(left, right);
  if (operator === '!=') return !valuesEqual(left, right);
  const bothNumbers = typeof left === 'number' && typeof right === 'number';
  const bothStrings = typeof left === 'string' && typeof right === 'string';
  if (!bothNumbers && !bothStrings) {
    throw new TemplateError(
      `Cannot compare ${describeInstructionValue(left)} with ${describeInstructionValue(right)} using '${operator}'`,
      pos.line, pos.column,
    );
  }
  const l = left as number | string;
  const r = right as number | string;
  switch (operator) {
    case '<': return l < r;
    case '<=': return l <= r;
    case '>': return l > r;
    default: return l >= r;
  }
}

function valuesEqual(left: InstructionValue, right: InstructionValue): boolean {
  if (Array.isArray(left) || Array.isArray(right)) {
    if (!Array.isArray(left) || !Array.isArray(right) || left.length !== right.length) return false;
    const a = left as readonly InstructionValue[];
    const b = right as readonly InstructionValue[];
    return a.every((item, index) => valuesEqual(item, b[index]));
  }
  if (isChatMessage(left) && isChatMessage(right)) return left.role === right.role && left.content === right.content;
  return left === right;
}

/** Copies a value into plain JSON data for a wired function. */
function toPlainValue(value: InstructionValue): unknown {
  if (Array.isArray(value)) return (value as readonly InstructionValue[]).map(toPlainValue);
  if (isChatMessage(value)) return { role: value.role, content: value.content };
  return value;
}
