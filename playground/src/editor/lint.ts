/**
 * Parse errors as you type: the library's own parser runs in the page, and its TemplateError
 * line/column becomes an underline at that spot (and `onError` for a line under the editor).
 */
import { linter, type Diagnostic } from '@codemirror/lint';
import type { EditorView } from '@codemirror/view';
import { TemplateError } from '../../../src/errors';
import { parseInstruction } from '../../../src/prompt/instruction/parser';

export interface ParseProblem {
  line: number;
  column: number;
  /** The message without its "(line, column)" suffix. */
  message: string;
}

/** The parse error of an instruction, or undefined when it parses. */
export function parseProblem(text: string): ParseProblem | undefined {
  try {
    parseInstruction(text);
    return undefined;
  } catch (error) {
    if (!(error instanceof TemplateError)) throw error;
    return { line: error.line, column: error.column, message: error.message.replace(/ \(line \d+, column \d+\)$/, '') };
  }
}

function diagnostic(view: EditorView, problem: ParseProblem): Diagnostic {
  const doc = view.state.doc;
  const line = doc.line(Math.min(Math.max(problem.line, 1), doc.lines));
  const from = Math.min(line.from + problem.column - 1, line.to);
  // Underline the word (or character) the error points at.
  const rest = doc.sliceString(from, line.to);
  const word = /^[\p{L}\p{N}_]+/u.exec(rest)?.[0].length ?? Math.min(1, rest.length);
  return { from, to: from + word, severity: 'error', message: problem.message, source: 'instruction' };
}

export function instructionLinter(onProblem: (problem: ParseProblem | undefined) => void) {
  return linter(
    (view) => {
      const problem = parseProblem(view.state.doc.toString());
      onProblem(problem);
      return problem ? [diagnostic(view, problem)] : [];
    },
    { delay: 150 },
  );
}
