/**
 * Checks on a batch cell's output, as evaluation tools have them (promptfoo's assertions are what
 * users know): plain ones run as the cell finishes; `judge` checks run a saved judge prompt and
 * are evaluated after every cell has generated, so the judge's model is loaded once.
 */
import { InvalidArgumentError } from '../errors.js';
import { describeValue, expectInteger, expectString, invalid } from '../validate.js';

export type Check =
  /** The output contains `value`. */
  | { type: 'contains'; value: string; ignoreCase?: boolean }
  /** The output matches the regular expression `pattern` (with `flags`). */
  | { type: 'regex'; pattern: string; flags?: string }
  /** The output equals `value` (compared trimmed unless `trim: false`). */
  | { type: 'equals'; value: string; trim?: boolean }
  /** The output has at most `value` characters. */
  | { type: 'maxLength'; value: number }
  /** The output (trimmed; a ```json fence is allowed) parses as JSON. */
  | { type: 'isJson' }
  /** A function of your own: true / false, or a string saying why it failed. */
  | { type: 'custom'; name: string; fn: (output: string, cell: CheckedCell) => boolean | string | Promise<boolean | string> }
  /**
   * LLM as judge: runs the saved prompt `prompt` with an input holding the cell's input and
   * output; passes when the judge's reply matches `pass` (a regular expression, default
   * `\b(pass|yes)\b`, case-insensitive).
   */
  | { type: 'judge'; prompt: string; pass?: string };

/** What a check sees of its cell. */
export interface CheckedCell {
  prompt: string;
  model: string;
  temperature: number;
  input: string;
}

export interface CheckResult {
  /** `contains`, `regex:<pattern>`, `custom:<name>`, `judge:<prompt>`, ... */
  name: string;
  pass: boolean;
  /** Why it failed (or the judge's reply). */
  message?: string;
}

/** Validates checks read from a file or a request (custom checks can only come from code). */
export function parseChecks(value: unknown, name = 'checks'): Check[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid('an array of checks', name, value);
  return value.map((item, index) => parseCheck(item, `${name}[${index}]`));
}

function parseCheck(value: unknown, name: string): Check {
  if (typeof value !== 'object' || value === null) throw invalid('a check object such as {"type": "contains", "value": "..."}', name, value);
  const check = value as Record<string, unknown>;
  switch (check.type) {
    case 'contains':
      return { type: 'contains', value: expectString(check.value, `${name}.value`), ignoreCase: check.ignoreCase === true };
    case 'regex': {
      const pattern = expectString(check.pattern, `${name}.pattern`);
      const flags = check.flags === undefined ? undefined : expectString(check.flags, `${name}.flags`);
      try {
        new RegExp(pattern, flags);
      } catch (error) {
        throw new InvalidArgumentError(`Expected a valid regular expression for ${name}.pattern but received ${describeValue(pattern)}: ${(error as Error).message}`);
      }
      return { type: 'regex', pattern, ...(flags ? { flags } : {}) };
    }
    case 'equals':
      return { type: 'equals', value: expectString(check.value, `${name}.value`), trim: check.trim !== false };
    case 'maxLength':
      return { type: 'maxLength', value: expectInteger(check.value, `${name}.value`, 0) };
    case 'isJson':
      return { type: 'isJson' };
    case 'judge':
      return { type: 'judge', prompt: expectString(check.prompt, `${name}.prompt`, { allowEmpty: false }), ...(check.pass !== undefined ? { pass: expectString(check.pass, `${name}.pass`) } : {}) };
    case 'custom':
      if (typeof check.fn === 'function' && typeof check.name === 'string') return check as unknown as Check;
      throw invalid('a custom check with a name and a function fn (from code only)', name, value);
    default:
      throw invalid('a check type: contains, regex, equals, maxLength, isJson, custom or judge', `${name}.type`, check.type);
  }
}

export function checkName(check: Check): string {
  switch (check.type) {
    case 'contains': return `contains:${check.value}`;
    case 'regex': return `regex:${check.pattern}`;
    case 'equals': return `equals:${check.value}`;
    case 'maxLength': return `maxLength:${check.value}`;
    case 'isJson': return 'isJson';
    case 'custom': return `custom:${check.name}`;
    case 'judge': return `judge:${check.prompt}`;
  }
}

/** Runs one check that needs no model (everything but `judge`). */
export async function runPlainCheck(check: Exclude<Check, { type: 'judge' }>, output: string, cell: CheckedCell): Promise<CheckResult> {
  const name = checkName(check);
  const fail = (message: string): CheckResult => ({ name, pass: false, message });
  switch (check.type) {
    case 'contains': {
      const found = check.ignoreCase ? output.toLowerCase().includes(check.value.toLowerCase()) : output.includes(check.value);
      return found ? { name, pass: true } : fail(`does not contain ${JSON.stringify(check.value)}`);
    }
    case 'regex':
      return new RegExp(check.pattern, check.flags).test(output) ? { name, pass: true } : fail(`does not match /${check.pattern}/${check.flags ?? ''}`);
    case 'equals': {
      const actual = check.trim === false ? output : output.trim();
      const wanted = check.trim === false ? check.value : check.value.trim();
      return actual === wanted ? { name, pass: true } : fail(`is not ${JSON.stringify(wanted)}`);
    }
    case 'maxLength':
      return output.length <= check.value ? { name, pass: true } : fail(`is ${output.length} characters long (at most ${check.value})`);
    case 'isJson':
      try {
        JSON.parse(output.trim().replace(/^```(?:json)?\s*\n?([\s\S]*?)\n?```$/, '$1'));
        return { name, pass: true };
      } catch (error) {
        return fail(`is not JSON: ${(error as Error).message}`);
      }
    case 'custom':
      try {
        const verdict = await check.fn(output, cell);
        return verdict === true ? { name, pass: true } : fail(typeof verdict === 'string' ? verdict : 'returned false');
      } catch (error) {
        return fail(`threw: ${(error as Error).message}`);
      }
  }
}

/** The judge prompt's input for one cell. */
export function judgeInput(cell: CheckedCell, output: string): string {
  return `Input:\n${cell.input}\n\nOutput:\n${output}`;
}

/** Whether a judge's reply passes. */
export function judgeVerdict(check: Extract<Check, { type: 'judge' }>, reply: string): CheckResult {
  const pass = new RegExp(check.pass ?? '\\b(pass|yes)\\b', 'i').test(reply);
  return { name: checkName(check), pass, message: reply.trim().slice(0, 500) };
}
