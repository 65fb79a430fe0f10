/**
 * The instruction language: a small, safe replacement for the original's Python f-string +
 * `eval`. Parse once with {@link parseInstruction}, evaluate per call with
 * {@link evaluateInstruction}. Only the listed functions and `input` / `var` are reachable.
 */
import type { Segment } from '../messages.js';
import { evaluateInstruction, type InstructionContext } from './evaluator.js';
import { parseInstruction } from './parser.js';

export { parseInstruction } from './parser.js';
export {
  evaluateInstruction,
  isTruthy,
  DEFAULT_MAX_PROMPT_DEPTH,
  type InstructionContext,
  type VariableSource,
  type MessageSource,
  type NestedCallInfo,
  type RagFunction,
  type LlmFunction,
  type EvaluatedPart,
} from './evaluator.js';
export { parseMessageLines, messagesFromValue } from './msgf.js';
export {
  DEFAULT_INSTRUCTION_LIMITS,
  INSTRUCTION_FUNCTIONS,
  type InstructionTree,
  type InstructionLimits,
  type InstructionValue,
  type InstructionFunctionName,
  type ExpressionNode,
  type TemplatePart,
  type SourcePosition,
} from './tree.js';

/** Parses and evaluates in one step (parse limits come from `context.limits`). */
export async function renderInstruction(text: string, context: InstructionContext = {}): Promise<Segment[]> {
  return evaluateInstruction(parseInstruction(text, context.limits), context);
}
