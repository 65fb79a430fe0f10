import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TemplateError } from '../../src/errors.js';
import { renderInstruction, type InstructionContext } from '../../src/prompt/instruction/index.js';
import { renderSegmentsAsText } from '../../src/prompt/messages.js';

/** Longest a single case may take; far above the real cost, far below a hang. */
const CASE_TIME_LIMIT_MS = 2_000;

const context: InstructionContext = {
  input: 'user input',
  isTest: true,
  vars: new Map([['name', 'Aka'], ['x', '{input}']]),
  messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }],
  rag: (dir, query, k) => Array.from({ length: Math.min(k, 3) }, (_, i) => `${dir}:${query}:${i}`),
  llm: (name, input) => `llm(${name},${input})`,
  limits: { maxOutputLength: 100_000 },
};

type Outcome = { kind: 'text'; text: string } | { kind: 'template-error'; error: TemplateError };

/**
 * Runs one instruction and classifies the outcome. Anything other than text or a
 * TemplateError (a RangeError from deep recursion, a TypeError, a timeout) fails the test.
 */
async function outcome(instruction: string): Promise<Outcome> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${CASE_TIME_LIMIT_MS} ms`)), CASE_TIME_LIMIT_MS);
  });
  try {
    const segments = await Promise.race([renderInstruction(instruction, context), timeout]);
    return { kind: 'text', text: renderSegmentsAsText(segments) };
  } catch (err) {
    if (err instanceof TemplateError) return { kind: 'template-error', error: err };
    throw new Error(`Unexpected ${(err as Error)?.name}: ${(err as Error)?.message} for ${JSON.stringify(instruction.slice(0, 200))}`);
  } finally {
    clearTimeout(timer);
    const elapsed = performance.now() - started;
    if (elapsed > CASE_TIME_LIMIT_MS) throw new Error(`took ${elapsed.toFixed(0)} ms for ${JSON.stringify(instruction.slice(0, 200))}`);
  }
}

function expectSafe(result: Outcome): void {
  if (result.kind === 'text') {
    expect(typeof result.text).toBe('string');
  } else {
    expect(result.error.line).toBeGreaterThanOrEqual(1);
    expect(result.error.column).toBeGreaterThanOrEqual(1);
    expect(result.error.message).toMatch(/\(line \d+, column \d+\)$/);
    // Hostile input must not be echoed back in full.
    expect(result.error.message.length).toBeLessThan(500);
  }
}

/** Fragments that steer random strings into the lexer's and parser's corners. */
const FRAGMENTS = [
  '{', '}', '{{', '}}', '(', ')', '[', ']', ',', '.', '=', '==', '!=', '<', '<=', '>', '>=', '-', '**', ':', '\\',
  "'", '"', "'''", '"""', '\\x', '\\u12', '\\U0010FFFF', '\\n', ' ', '\n', '\u3000', 'and', 'or', 'not', 'True', 'None',
  'input', 'var', 'var.', "var['name']", 'var.name', 'comment(', 'test(', 'msgf(', 'iif(', 'rag(', 'llm(', 'msg(', 'msgcount(',
  "'user: a\\nai: b'", 'k=', '1', '0', '-1', '3.5e2', "'s'", '__import__', 'eval', 'os', 'あ', '😀', '\u0000', '\ud800',
];

const fragmentSoup = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 60 }).map((parts) => parts.join(''));

/** Random but syntactically plausible expressions, to reach the evaluator too. */
const expression: fc.Arbitrary<string> = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('input', 'var.name', "var['x']", 'True', 'None', '0', '7', "''", "'txt'", 'msgcount()', 'msg(1)', "[1, 'a']"),
    fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s)),
    fc.tuple(tie('expr'), fc.constantFrom('==', '!=', '<', '>=', 'and', 'or'), tie('expr')).map(([a, op, b]) => `${a} ${op} ${b}`),
    tie('expr').map((e) => `not ${e}`),
    tie('expr').map((e) => `(${e})`),
    fc.tuple(tie('expr'), tie('expr'), tie('expr')).map(([a, b, c]) => `iif(${a}, ${b}, f=${c})`),
    tie('expr').map((e) => `msgf(${e})`),
    tie('expr').map((e) => `test(${e})`),
    tie('expr').map((e) => `comment(${e})`),
    fc.tuple(tie('expr'), tie('expr')).map(([a, b]) => `rag(${a}, ${b}, k=2)`),
    fc.tuple(tie('expr'), tie('expr')).map(([a, b]) => `llm(${a}, ${b}, temperature=0.5)`),
  ),
})).expr;

const instructionWithExpressions = fc
  .array(fc.oneof(fc.string({ maxLength: 10 }), expression.map((e) => `{${e}}`)), { maxLength: 6 })
  .map((parts) => parts.join(''));

describe('instruction language under random and hostile input', () => {
  it('random unicode strings give text or a TemplateError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 200 }), async (text) => expectSafe(await outcome(text))),
      { numRuns: 2_000 },
    );
  });

  it('random mixes of braces, quotes, escapes and keywords give text or a TemplateError', async () => {
    await fc.assert(
      fc.asyncProperty(fragmentSoup, async (text) => expectSafe(await outcome(text))),
      { numRuns: 3_000 },
    );
  });

  it('random well-formed expressions give text or a TemplateError', async () => {
    let rendered = 0;
    await fc.assert(
      fc.asyncProperty(instructionWithExpressions, async (text) => {
        const result = await outcome(text);
        expectSafe(result);
        if (result.kind === 'text') rendered++;
      }),
      { numRuns: 1_500 },
    );
    // Most generated expressions are valid: the property must exercise the evaluator, not only the parser.
    expect(rendered).toBeGreaterThan(300);
  });

  it.each([
    ['deep parentheses', '{' + '('.repeat(200_000) + '1' + ')'.repeat(200_000) + '}'],
    ['deep not', '{' + 'not '.repeat(200_000) + '1}'],
    ['deep unary minus', '{' + '-'.repeat(500_000) + '1}'],
    ['deep lists', '{' + '['.repeat(300_000) + ']'.repeat(300_000) + '}'],
    ['deep calls', '{' + 'msgf('.repeat(100_000) + "''" + ')'.repeat(100_000) + '}'],
    ['long and chain', '{' + Array(100_000).fill('1').join(' and ') + '}'],
    ['many placeholders', '{input}'.repeat(120_000)],
    ['many lone closing braces then an open brace', '}'.repeat(900_000) + '{'],
    ['many escaped braces', '{{'.repeat(450_000)],
    ['unterminated quote at the start', "{'" + 'x'.repeat(900_000)],
    ['unterminated triple quote', "{'''" + "'' ".repeat(300_000)],
    ['long string literal', "{'" + 'あ'.repeat(500_000) + "'}"],
    ['many string literals concatenated', '{' + "'ab' ".repeat(150_000) + '}'],
    ['long msgf text', "{msgf('" + 'user: x\\n'.repeat(100_000) + "')}"],
    ['over the length limit', 'x'.repeat(1_000_001)],
    ['output bomb through repeated vars', '{var.name}'.repeat(100_000)],
    ['only backslashes in a string', "{'" + '\\'.repeat(600_000) + "'}"],
    ['huge unknown name', '{' + 'a'.repeat(900_000) + '}'],
    ['huge unknown function', '{' + 'f'.repeat(900_000) + '()}'],
    ['huge missing variable key', "{var['" + 'k'.repeat(900_000) + "']}"],
    ['deep keyword nesting', '{' + 'iif(t='.repeat(50_000) + '1' + ')'.repeat(50_000) + '}'],
  ])('%s ends quickly with a string or a TemplateError', async (_name, text) => {
    const started = performance.now();
    expectSafe(await outcome(text));
    expect(performance.now() - started).toBeLessThan(CASE_TIME_LIMIT_MS);
  });

  it('cannot reach anything but the listed names', async () => {
    for (const probe of ['constructor', 'process', 'globalThis', 'require', 'this', '__proto__', 'Function', 'import']) {
      const plain = await outcome(`{${probe}}`);
      const called = await outcome(`{${probe}('x')}`);
      expect(plain.kind).toBe('template-error');
      expect(called.kind).toBe('template-error');
    }
    expect((await outcome("{var['__proto__']}")).kind).toBe('template-error');
    expect((await outcome("{var['constructor']}")).kind).toBe('template-error');
  });
});
