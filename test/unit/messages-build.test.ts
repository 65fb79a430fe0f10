import { describe, expect, it } from 'vitest';
import { renderInstruction } from '../../src/prompt/instruction/index.js';
import {
  buildMessages,
  buildTemplateText,
  renderSegmentsAsText,
  toChatMessage,
  type ChatMessage,
  type Segment,
} from '../../src/prompt/messages.js';

const INSTRUCTION = "You are Aka.\n{msgf('user: hi\\nai: hello!')}\nAnswer briefly.\n";

describe('buildMessages (messages mode)', () => {
  it('sends instruction, msgf array, tail text and the input once, in order', async () => {
    const segments = await renderInstruction(INSTRUCTION);
    const messages = buildMessages(segments, 'how are you?');
    expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'system', 'user']);
    expect(messages).toEqual([
      { role: 'system', content: 'You are Aka.' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello!' },
      { role: 'system', content: 'Answer briefly.' },
      { role: 'user', content: 'how are you?' },
    ]);
    expect(messages.filter((m) => m.content.includes('how are you?'))).toHaveLength(1);
  });

  it('sends the whole evaluated instruction as one user message when the input is empty', async () => {
    const segments = await renderInstruction('Write a haiku about {var.topic}.', { vars: new Map([['topic', 'rain']]) });
    expect(buildMessages(segments, '')).toEqual([{ role: 'user', content: 'Write a haiku about rain.' }]);
    expect(buildMessages(segments, '  \n')).toEqual([{ role: 'user', content: 'Write a haiku about rain.' }]);
  });

  it('renders spliced messages as lines inside the single user message for empty input', async () => {
    const segments = await renderInstruction('Summarize:\n{msgf("user: a\\nai: b")}');
    expect(buildMessages(segments, '')).toEqual([{ role: 'user', content: 'Summarize:\nuser: a\nassistant: b' }]);
  });

  it('sends nothing but the history when instruction and input are both empty', () => {
    const history: ChatMessage[] = [{ role: 'user', content: 'q' }];
    expect(buildMessages([], '', history)).toEqual(history);
  });

  it('puts the caller history after the instruction and before the input', () => {
    const history: ChatMessage[] = [{ role: 'user', content: 'earlier' }, { role: 'assistant', content: 'reply' }];
    const segments: Segment[] = [{ type: 'text', text: 'sys' }];
    expect(buildMessages(segments, 'now', history)).toEqual([
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'earlier' },
      { role: 'assistant', content: 'reply' },
      { role: 'user', content: 'now' },
    ]);
  });

  it('trims text segments and drops empty ones', () => {
    const segments: Segment[] = [
      { type: 'text', text: '  \n ' },
      { type: 'messages', messages: [{ role: 'user', content: 'x' }] },
      { type: 'text', text: '\n  tail  \n' },
    ];
    expect(buildMessages(segments, 'in')).toEqual([
      { role: 'user', content: 'x' },
      { role: 'system', content: 'tail' },
      { role: 'user', content: 'in' },
    ]);
  });

  it('returns copies, never the segment or history objects', () => {
    const spliced: ChatMessage = { role: 'assistant', content: 'a' };
    const history: ChatMessage = { role: 'user', content: 'h' };
    const messages = buildMessages([{ type: 'messages', messages: [spliced] }], 'in', [history]);
    messages[0].content = 'changed';
    messages[1].content = 'changed';
    expect(spliced.content).toBe('a');
    expect(history.content).toBe('h');
  });
});

describe('buildTemplateText (template mode)', () => {
  const template = '{bos_token}[INST] <<SYS>>\n{instruction}\n<</SYS>>\n\n{input} [/INST]';

  it('fills instruction, input and BOS', async () => {
    const segments = await renderInstruction('Be kind to {var.who}.', { vars: new Map([['who', 'users']]) });
    expect(buildTemplateText(template, segments, 'hello', '<s>')).toBe(
      '<s>[INST] <<SYS>>\nBe kind to users.\n<</SYS>>\n\nhello [/INST]',
    );
  });

  it('renders spliced messages as role: content lines', async () => {
    const segments = await renderInstruction("Chat:\n{msgf('user: a\\nai: b')}");
    expect(buildTemplateText('{instruction}|{input}', segments, 'q')).toBe('Chat:\nuser: a\nassistant: b|q');
  });

  it('never expands placeholders that come from the input or the instruction', () => {
    const segments: Segment[] = [{ type: 'text', text: 'I said {input}' }];
    const text = buildTemplateText('{instruction} / {input}', segments, 'echo {instruction} {input}');
    expect(text).toBe('I said {input} / echo {instruction} {input}');
    expect(text.split('echo').length - 1).toBe(1);
  });

  it('keeps other braces and a missing BOS as empty', () => {
    expect(buildTemplateText('{"a": {input}}{bos_token}', [], 'x')).toBe('{"a": x}');
  });
});

describe('message helpers', () => {
  it('renderSegmentsAsText joins text and message lines', () => {
    expect(renderSegmentsAsText([
      { type: 'text', text: 'a\n' },
      { type: 'messages', messages: [{ role: 'user', content: 'u' }, { role: 'tool', content: 't' }] },
    ])).toBe('a\nuser: u\ntool: t');
  });

  it('toChatMessage validates roles and content and drops other keys', () => {
    expect(toChatMessage({ role: 'user', content: 'x', extra: 1 }, 'm')).toEqual({ role: 'user', content: 'x' });
    expect(() => toChatMessage({ role: 'ai', content: 'x' }, 'm')).toThrow(/Expected a role \(system, user, assistant, tool\) for m\.role but received "ai"/);
    expect(() => toChatMessage({ role: 'user', content: 3 }, 'm')).toThrow(/Expected a string for m\.content but received 3/);
    expect(() => toChatMessage('x', 'm')).toThrow(/for m but received "x"/);
  });
});
