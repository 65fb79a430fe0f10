import type { ChatMessage } from '../messages.js';

/** 1-based position in the instruction; `column` counts UTF-16 code units, as editors do. */
export interface SourcePosition {
  line: number;
  column: number;
}

/**
 * A value an expression can produce. Lists come from list literals, `msgf()` and `msg()`;
 * a list whose items are all chat messages is spliced into the message list when output.
 */
export type InstructionValue = string | number | boolean | null | ChatMessage | readonly InstructionValue[];

export type ComparisonOperator = '==' | '!=' | '<' | '<=' | '>' | '>=';

export type ExpressionNode =
  | { kind: 'literal'; value: InstructionValue; pos: SourcePosition }
  | { kind: 'input'; pos: SourcePosition }
  /** `var.key`, `var['key']` and `var('key')`; `key` is an expression for the bracket forms. */
  | { kind: 'var'; key: ExpressionNode; pos: SourcePosition }
  | { kind: 'list'; items: ExpressionNode[]; pos: SourcePosition }
  | { kind: 'not'; operand: ExpressionNode; pos: SourcePosition }
  | { kind: 'negate'; operand: ExpressionNode; pos: SourcePosition }
  | { kind: 'logical'; operator: 'and' | 'or'; operands: ExpressionNode[]; pos: SourcePosition }
  /** Python-style chain: `a < b <= c` means `a < b and b <= c`. */
  | { kind: 'compare'; first: ExpressionNode; rest: ComparisonLink[]; pos: SourcePosition }
  | CallNode;

export interface ComparisonLink {
  operator: ComparisonOperator;
  right: ExpressionNode;
  pos: SourcePosition;
}

/**
 * A call with its arguments already bound to the function's parameters at parse time:
 * `args[i]` is the node for parameter `i` (defaults filled in as literals), `extraKeywords`
 * holds the `**overrides` of `llm()`.
 */
export interface CallNode {
  kind: 'call';
  name: InstructionFunctionName;
  args: ExpressionNode[];
  extraKeywords: Array<{ name: string; value: ExpressionNode }>;
  pos: SourcePosition;
}

export type TemplatePart =
  | { kind: 'text'; text: string; pos: SourcePosition }
  | { kind: 'placeholder'; expression: ExpressionNode; pos: SourcePosition };

/** A parsed instruction: literal text and `{ expression }` placeholders, in order. Immutable once built. */
export interface InstructionTree {
  readonly parts: readonly TemplatePart[];
}

/** Resource limits that keep hostile instructions from hanging or exhausting the process. */
export interface InstructionLimits {
  /** Longest instruction accepted, in characters. Default 1_000_000. */
  maxInstructionLength: number;
  /** Deepest expression nesting (parentheses, calls, lists, `not`, unary minus). Default 64. */
  maxNestingDepth: number;
  /** Longest evaluated output (text plus spliced message contents), in characters. Default 4_000_000. */
  maxOutputLength: number;
}

export const DEFAULT_INSTRUCTION_LIMITS: Readonly<InstructionLimits> = Object.freeze({
  maxInstructionLength: 1_000_000,
  maxNestingDepth: 64,
  maxOutputLength: 4_000_000,
});

interface ParameterSpec {
  name: string;
  /** Other keyword names accepted for this parameter (names used by the original akachat). */
  aliases?: readonly string[];
  /** Absent: the argument is required. */
  default?: InstructionValue;
}

export interface FunctionSpec {
  params: readonly ParameterSpec[];
  /** Accepts keyword arguments beyond its parameters (`llm(name, input, **overrides)`). */
  extraKeywords?: boolean;
}

/** The only functions an instruction can call. */
export const INSTRUCTION_FUNCTIONS = {
  comment: { params: [{ name: 's', default: '' }] },
  test: { params: [{ name: 's' }] },
  msgf: { params: [{ name: 'v' }] },
  iif: { params: [{ name: 'cond', aliases: ['expr'] }, { name: 't' }, { name: 'f', default: '' }] },
  rag: { params: [{ name: 'dir' }, { name: 'query' }, { name: 'k', default: 1 }] },
  llm: { params: [{ name: 'name', aliases: ['dir'] }, { name: 'input', default: '' }], extraKeywords: true },
  var: { params: [{ name: 'key' }] },
  msg: { params: [{ name: 'limit', default: 0 }] },
  msgcount: { params: [] },
} as const satisfies Record<string, FunctionSpec>;

export type InstructionFunctionName = keyof typeof INSTRUCTION_FUNCTIONS;

export function isInstructionFunction(name: string): name is InstructionFunctionName {
  return Object.hasOwn(INSTRUCTION_FUNCTIONS, name);
}
