import { describe, expect, it } from 'vitest';
import { AbortError, NotFoundError, TemplateError } from '../../src/errors.js';
import {
  evaluateInstruction,
  parseInstruction,
  parseMessageLines,
  renderInstruction,
  type InstructionContext,
  type LlmFunction,
} from '../../src/prompt/instruction/index.js';
import { renderSegmentsAsText, type ChatMessage, type Segment } from '../../src/prompt/messages.js';

const SEED = "Hello {var.name}. {comment('x')}{test('T')}{iif(input,'has input','none')} input={input}";

async function render(text: string, context: InstructionContext = {}): Promise<string> {
  return renderSegmentsAsText(await renderInstruction(text, context));
}

async function renderError(text: string, context: InstructionContext = {}): Promise<TemplateError> {
  const error = await renderInstruction(text, context).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(TemplateError);
  return error as TemplateError;
}

const HISTORY: ChatMessage[] = [
  { role: 'user', content: 'one' },
  { role: 'assistant', content: 'two' },
  { role: 'user', content: 'three' },
  { role: 'assistant', content: 'four' },
];

describe('spec seed', () => {
  const vars = new Map([['name', 'Aka']]);

  it('renders with is_test off', async () => {
    expect(await render(SEED, { vars, input: 'hi' })).toBe('Hello Aka. has input input=hi');
  });

  it('outputs test() text when is_test is on and the call is not from the WebAPI', async () => {
    expect(await render(SEED, { vars, input: 'hi', isTest: true })).toBe('Hello Aka. Thas input input=hi');
  });

  it('treats test mode as off for WebAPI calls', async () => {
    expect(await render(SEED, { vars, input: 'hi', isTest: true, fromWebApi: true })).toBe('Hello Aka. has input input=hi');
  });

  it('takes the other iif() branch for empty input', async () => {
    expect(await render(SEED, { vars, input: '' })).toBe('Hello Aka. none input=');
  });
});

describe('literal text and braces', () => {
  it('turns {{ and }} into literal braces', async () => {
    expect(await render('double {{brace}}')).toBe('double {brace}');
  });

  it('handles {{{expr}}} like Python f-strings', async () => {
    expect(await render('{{{input}}}', { input: 'x' })).toBe('{x}');
  });

  it('keeps a lone } as a literal', async () => {
    expect(await render('a } b')).toBe('a } b');
  });

  it('keeps all other text verbatim, including newlines and unicode', async () => {
    const text = 'あかちゃん\n\t"quotes" \\ back 😀\r\n';
    expect(await render(text)).toBe(text);
  });

  it('parses once and evaluates many times with different inputs', async () => {
    const tree = parseInstruction('[{input}]');
    expect(Object.isFrozen(tree)).toBe(true);
    const first = await evaluateInstruction(tree, { input: 'a' });
    const second = await evaluateInstruction(tree, { input: 'b' });
    expect(renderSegmentsAsText(first)).toBe('[a]');
    expect(renderSegmentsAsText(second)).toBe('[b]');
  });

  it('merges adjacent text segments', async () => {
    const segments = await renderInstruction("a{'b'}{1}c");
    expect(segments).toEqual([{ type: 'text', text: 'ab1c' }]);
  });
});

describe('expressions', () => {
  it.each([
    ["{'single'}", 'single'],
    ['{"double"}', 'double'],
    ["{'a\\nb\\t\\'q\\' \\x41\\u3042'}", "a\nb\t'q' Aあ"],
    ["{'C:\\path'}", 'C:\\path'],
    ["{'''tri'ple'''}", "tri'ple"],
    ["{'con' 'cat'}", 'concat'],
    ['{42}', '42'],
    ['{-1.5}', '-1.5'],
    ['{True}{true}{False}{false}', 'TrueTrueFalseFalse'],
    ['{None}{null}', ''],
    ['{1 == 1}', 'True'],
    ["{'a' != 'b'}", 'True'],
    ['{1 < 2 <= 2 < 3}', 'True'],
    ['{3 > 2 > 2}', 'False'],
    ["{'abc' < 'abd'}", 'True'],
    ['{not 1 == 2}', 'True'],
    ["{'' or 'fallback'}", 'fallback'],
    ["{'x' and 'y'}", 'y'],
    ["{0 and 'never'}", '0'],
    ['{(1 == 1) and not (2 == 3)}', 'True'],
    ["{iif(0, 'yes', 'no')}", 'no'],
    ["{iif('', 'yes')}", ''],
    ["{iif(expr=1, t='kw')}", 'kw'],
    ["{[1, 'a'] == [1, 'a']}", 'True'],
  ])('%s -> %s', async (text, expected) => {
    expect(await render(text)).toBe(expected);
  });

  it('reads input and var in all three forms', async () => {
    const vars = new Map([['name', 'Aka'], ['名前', 'あか'], ['with-dash', 'D']]);
    expect(await render("{input}|{var.name}|{var['name']}|{var('name')}|{var.名前}|{var['with-dash']}", { input: 'in', vars }))
      .toBe('in|Aka|Aka|Aka|あか|D');
  });

  it('allows newlines and full-width spaces inside a placeholder', async () => {
    expect(await render("{iif(\n  input,\u3000'y',\n  'n'\n)}", { input: 'x' })).toBe('y');
  });
});

describe('errors name the function and the position', () => {
  it.each([
    ['x {nope}', /Unknown name "nope".*\(line 1, column 4\)/],
    ['x {nope()}', /Unknown function "nope".*\(line 1, column 4\)/],
    ['line1\n  {iif(1, 2, 3, 4)}', /^iif\(\): takes at most 3 arguments but 4 were given \(line 2, column 4\)/],
    ['{iif(1)}', /iif\(\): missing required argument t/],
    ['{rag(dir="a", dir="b", query="q")}', /rag\(\) got keyword argument "dir" twice/],
    ['{iif(t=1, 2)}', /positional argument cannot follow keyword arguments/],
    ["{msgf(v='a', x=1)}", /msgf\(\): unexpected keyword argument "x"/],
    ['{iif(1, 2}', /Expected ',' or '\)' in the arguments of iif\(\) but found "}" in iif\(\)/],
    ['{input', /Unterminated placeholder.*\(line 1, column 1\)/],
    ['{}', /Empty placeholder/],
    ["{'abc}", /Unterminated string literal \(line 1, column 2\)/],
    ['{1 + 2}', /Unexpected character "\+"/],
    ['{input.upper()}', /Expected '}' to close the placeholder but found "\."/],
    ['{__import__("os")}', /Unknown function "__import__"/],
    ['{msg}', /msg is a function: call it as msg\(...\)/],
    ['{var}', /after var/],
    ["{'a' < 1}", /Cannot compare "a" with number 1 using '<'/],
    ["{-'a'}", /Cannot negate/],
    ["{['a', 'b']}", /Only text or chat messages can be output/],
    ['{msg(-1)}', /msg\(\): Expected an integer >= 0 for limit but received number -1/],
    ['{"\\x4"}', /Invalid escape/],
  ])('%s', async (text, pattern) => {
    const error = await renderError(text, { messages: [] });
    expect(error.message).toMatch(pattern);
    expect(error.code).toBe('TEMPLATE_ERROR');
  });

  it('reports 1-based line and column fields', async () => {
    const error = await renderError('ab\ncd {oops}');
    expect([error.line, error.column]).toEqual([2, 5]);
  });

  it('names a missing variable', async () => {
    const error = await renderError('{var.missing}', { vars: new Map() });
    expect(error.message).toMatch(/var\.missing: variable "missing" is not set/);
  });

  it('wraps an error thrown by a variable source, keeping the cause', async () => {
    const cause = new NotFoundError('Variable "gone" not found');
    const vars = { get: () => Promise.reject(cause) };
    const error = await renderError('{var.gone}', { vars });
    expect(error.message).toMatch(/^var\.gone failed: Variable "gone" not found/);
    expect(error.cause).toBe(cause);
  });

  it('wraps errors of wired functions and names the function', async () => {
    const cause = new Error('index broken');
    const error = await renderError("{rag('docs', 'q')}", { rag: () => { throw cause; } });
    expect(error.message).toMatch(/^rag\(\) failed: index broken/);
    expect(error.cause).toBe(cause);
  });

  it('lets AbortError through unwrapped', async () => {
    const error = await renderInstruction("{llm('x')}", { llm: () => Promise.reject(new AbortError()) }).catch((e) => e);
    expect(error).toBeInstanceOf(AbortError);
  });

  it('stops at an already aborted signal', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(renderInstruction('text', { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
  });
});

describe('functions', () => {
  it('comment() outputs nothing and runs nothing inside it', async () => {
    let calls = 0;
    const llm: LlmFunction = () => { calls++; return 'ran'; };
    expect(await render("a{comment(llm('x'))}b", { llm })).toBe('ab');
    expect(calls).toBe(0);
  });

  it('iif() evaluates only the chosen branch', async () => {
    const called: string[] = [];
    const llm: LlmFunction = (name) => { called.push(name); return name; };
    expect(await render("{iif(input == 'a', llm('A'), llm('B'))}", { input: 'a', llm })).toBe('A');
    expect(called).toEqual(['A']);
  });

  it('test() does not evaluate its argument when test mode is off', async () => {
    let calls = 0;
    const rag = () => { calls++; return 'chunk'; };
    expect(await render("{test(rag('d', 'q'))}", { rag, isTest: false })).toBe('');
    expect(await render("{test(rag('d', 'q'))}", { rag, isTest: true })).toBe('chunk');
    expect(calls).toBe(1);
  });

  describe('msgf()', () => {
    it('parses role lines case-insensitively, ai meaning assistant, with continued lines', async () => {
      const segments = await renderInstruction(
        "{msgf('USER: hello\\nsecond line\\nAi: hi there\\nAssistant:  fine\\nSystem: be brief\\nuser：全角')}",
      );
      expect(segments).toEqual([{
        type: 'messages',
        messages: [
          { role: 'user', content: 'hello\nsecond line' },
          { role: 'assistant', content: 'hi there' },
          { role: 'assistant', content: 'fine' },
          { role: 'system', content: 'be brief' },
          { role: 'user', content: '全角' },
        ],
      }]);
    });

    it('accepts a list of strings and messages', async () => {
      const segments = await renderInstruction("{msgf(['user: a', 'ai: b\\nc', msg(1)])}", { messages: [{ role: 'system', content: 's' }] });
      expect(segments).toEqual([{
        type: 'messages',
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: 'b\nc' },
          { role: 'system', content: 's' },
        ],
      }]);
    });

    it('rejects text before the first role prefix', async () => {
      const error = await renderError("{msgf('\\nno prefix here')}");
      expect(error.message).toMatch(/^msgf\(\): Expected a role prefix .* on line 2/);
    });

    it('parseMessageLines skips leading blank lines and trims contents', () => {
      expect(parseMessageLines('\n  \nuser:   x  \n\nai: y\n')).toEqual([
        { role: 'user', content: 'x' },
        { role: 'assistant', content: 'y' },
      ]);
    });
  });

  it('msg(2) splices the newest two messages', async () => {
    const segments = await renderInstruction('History:{msg(2)}End', { messages: HISTORY });
    expect(segments).toEqual([
      { type: 'text', text: 'History:' },
      { type: 'messages', messages: [HISTORY[2], HISTORY[3]] },
      { type: 'text', text: 'End' },
    ]);
  });

  it('msg() with no limit splices all messages and msgcount() counts them', async () => {
    const source = { newest: async (limit: number) => (limit === 0 ? HISTORY : HISTORY.slice(-limit)), count: async () => HISTORY.length };
    const segments = await renderInstruction('{msg()}{msgcount()} {msgcount() > 3}', { messages: source });
    expect(segments[0]).toEqual({ type: 'messages', messages: HISTORY });
    expect(segments[1]).toEqual({ type: 'text', text: '4 True' });
  });

  it('msg() copies messages, never sharing the source objects', async () => {
    const messages = [{ role: 'user' as const, content: 'x' }];
    const segments = await renderInstruction('{msg()}', { messages });
    const spliced = (segments[0] as Extract<Segment, { type: 'messages' }>).messages[0];
    expect(spliced).toEqual(messages[0]);
    expect(spliced).not.toBe(messages[0]);
  });

  it('msg() without a message source is a clear error', async () => {
    expect((await renderError('{msg(1)}')).message).toMatch(/msg\(\) is not available/);
  });

  it("llm('sub', 'zz') inserts the sub-prompt's generated text", async () => {
    const calls: Array<[string, string, Record<string, unknown>, number]> = [];
    const llm: LlmFunction = (name, input, overrides, info) => {
      calls.push([name, input, overrides, info.depth]);
      return `<${name}:${input}>`;
    };
    expect(await render("A {llm('sub','zz')} B {llm('other', temperature=0.2, stop=['x'])}", { llm })).toBe('A <sub:zz> B <other:>');
    expect(calls).toEqual([
      ['sub', 'zz', {}, 1],
      ['other', '', { temperature: 0.2, stop: ['x'] }, 1],
    ]);
  });

  it('llm() accepts the original keyword name dir', async () => {
    expect(await render("{llm(dir='sub', input='i')}", { llm: (name, input) => `${name}/${input}` })).toBe('sub/i');
  });

  it('llm() stops runaway recursion at maxDepth', async () => {
    const prompts: Record<string, string> = { loop: "x{llm('loop')}" };
    const llm: LlmFunction = async (name, _input, _overrides, info) =>
      render(prompts[name], { llm, depth: info.depth });
    const error = await renderError("{llm('loop')}", { llm });
    expect(error.message).toMatch(/prompts nest deeper than 4 levels/);
    const shallow = await renderError("{llm('loop')}", { llm: async (name, _i, _o, info) => render(prompts[name], { llm, depth: info.depth, maxDepth: 1 }), maxDepth: 1 });
    expect(shallow.message).toMatch(/deeper than 1 levels/);
  });

  it('llm() and rag() without an implementation are clear errors', async () => {
    expect((await renderError("{llm('x')}")).message).toMatch(/^llm\(\): llm\(\) is not available/);
    expect((await renderError("{rag('d', 'q')}")).message).toMatch(/^rag\(\): rag\(\) is not available: /);
  });

  it('rag() passes dir, query and k (default 1) and joins chunks', async () => {
    const calls: Array<[string, string, number]> = [];
    const rag = (dir: string, query: string, k: number) => {
      calls.push([dir, query, k]);
      return Array.from({ length: k }, (_, i) => `chunk${i}`);
    };
    expect(await render("{rag('docs', input)}|{rag('docs', 'q', k=2)}", { rag, input: 'hello' })).toBe('chunk0|chunk0\n\nchunk1');
    expect(calls).toEqual([['docs', 'hello', 1], ['docs', 'q', 2]]);
  });

  it('rag() validates k', async () => {
    expect((await renderError("{rag('d', 'q', 0)}", { rag: () => '' })).message).toMatch(/Expected an integer >= 1 for k/);
  });
});

describe('resource limits', () => {
  it('refuses instructions over the length limit', () => {
    expect(() => parseInstruction('x'.repeat(101), { maxInstructionLength: 100 })).toThrow(/longer than 100 characters/);
    expect(() => parseInstruction('x'.repeat(1_000_001))).toThrow(TemplateError);
  });

  it('refuses expressions nested too deep instead of overflowing the stack', () => {
    const deep = '{' + '('.repeat(100_000) + '1' + ')'.repeat(100_000) + '}';
    expect(() => parseInstruction(deep)).toThrow(/nested deeper than 64 levels/);
    expect(() => parseInstruction('{' + 'not '.repeat(50_000) + '1}')).toThrow(/nested deeper/);
    expect(() => parseInstruction('{' + '['.repeat(50_000) + '}')).toThrow(/nested deeper/);
    expect(() => parseInstruction('{' + '('.repeat(10) + '1' + ')'.repeat(10) + '}', { maxNestingDepth: 5 })).toThrow(/deeper than 5/);
  });

  it('stops output beyond the output limit', async () => {
    const error = await renderError('{input}{input}', { input: 'x'.repeat(60), limits: { maxOutputLength: 100 } });
    expect(error.message).toMatch(/longer than 100 characters/);
    expect(await render('{input}', { input: 'x'.repeat(100), limits: { maxOutputLength: 100 } })).toHaveLength(100);
  });

  it('limits what wired functions may return', async () => {
    const error = await renderError("{llm('x')}", { llm: () => 'y'.repeat(200), limits: { maxOutputLength: 100 } });
    expect(error.message).toMatch(/^llm\(\): the value is longer than 100/);
  });
});
