/** The evaluator's onPart: every part of an instruction in order, with the function that produced its output. */
import { describe, expect, it } from 'vitest';
import { renderInstruction, type EvaluatedPart } from '../../src/prompt/instruction/index.js';
import { renderSegmentsAsText } from '../../src/prompt/messages.js';

async function parts(text: string, input = ''): Promise<{ parts: EvaluatedPart[]; output: string }> {
  const heard: EvaluatedPart[] = [];
  const segments = await renderInstruction(text, {
    input,
    vars: new Map([['name', 'Lily']]),
    messages: [{ role: 'user', content: 'hi' }],
    onPart: (part) => heard.push(part),
  });
  return { parts: heard, output: renderSegmentsAsText(segments) };
}

describe('onPart', () => {
  it('reports literal text and each placeholder\'s output with its source and position', async () => {
    const { parts: heard, output } = await parts('Hi {var.name}!\n{iif(input, input, "none")} {1 and None}{comment("x")}{msgcount()}', 'yo');
    expect(heard.map(({ source, pos, output: out }) => [source, pos.line, pos.column, out])).toEqual([
      [null, 1, 1, 'Hi '],
      ['var', 1, 4, 'Lily'],
      [null, 1, 14, '!\n'],
      ['iif', 2, 1, 'yo'],
      [null, 2, 28, ' '],
      ['expression', 2, 29, ''],
      ['comment', 2, 41, ''],
      ['msgcount', 2, 55, '1'],
    ]);
    // The parts' text is the evaluated instruction.
    expect(heard.map((part) => (typeof part.output === 'string' ? part.output : '')).join('')).toBe(output);
  });

  it('reports messages as messages', async () => {
    const { parts: heard } = await parts('{msg()}{input}', 'x');
    expect(heard).toEqual([
      { source: 'msg', pos: { line: 1, column: 1 }, output: [{ role: 'user', content: 'hi' }] },
      { source: 'input', pos: { line: 1, column: 8 }, output: 'x' },
    ]);
  });
});
