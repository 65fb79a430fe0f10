import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import {
  normalizeLlamaCppCompletion, normalizeMessages, normalizeOllamaChat, normalizeOllamaGenerate, normalizeOpenAiChat,
  normalizeOpenAiCompletion, ollamaSampling, openAiSampling, parseKeepAlive,
} from '../../src/http/openai-normalize.js';

const user = (content: unknown) => ({ role: 'user', content });

describe('normalizeMessages', () => {
  it('accepts string content and arrays of text parts', () => {
    expect(normalizeMessages([
      user('hello'),
      { role: 'assistant', content: [{ type: 'text', text: 'hi' }, { type: 'text', text: 'there' }] },
    ])).toEqual([{ role: 'user', content: 'hello' }, { role: 'assistant', content: 'hi\nthere' }]);
  });

  it('merges every system message into one leading system message', () => {
    expect(normalizeMessages([
      { role: 'system', content: 'You are Aka.' },
      user('hi'),
      { role: 'developer', content: 'Speak Japanese.' },
      { role: 'assistant', content: 'こんにちは' },
      { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
    ])).toEqual([
      { role: 'system', content: 'You are Aka.\n\nSpeak Japanese.\n\nBe brief.' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'こんにちは' },
    ]);
  });

  it('merges consecutive turns of one role, including those made adjacent by moving system messages', () => {
    expect(normalizeMessages([
      user('one'), user('two'), { role: 'system', content: 'S' }, user('three'), { role: 'assistant', content: 'A' },
    ])).toEqual([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'one\n\ntwo\n\nthree' },
      { role: 'assistant', content: 'A' },
    ]);
  });

  it('keeps a leading assistant turn, or puts an empty user turn before it when asked', () => {
    const messages = [{ role: 'system', content: 'S' }, { role: 'assistant', content: 'Welcome!' }, user('hi')];
    expect(normalizeMessages(messages).map((m) => m.role)).toEqual(['system', 'assistant', 'user']);
    expect(normalizeMessages(messages, { leadingAssistant: 'prepend-user' })).toEqual([
      { role: 'system', content: 'S' }, { role: 'user', content: '' },
      { role: 'assistant', content: 'Welcome!' }, { role: 'user', content: 'hi' },
    ]);
  });

  it('turns tool results into labelled user text and drops tool-call-only assistant turns', () => {
    expect(normalizeMessages([
      user('weather?'),
      { role: 'assistant', content: null, tool_calls: [{ id: '1' }] },
      { role: 'tool', name: 'get_weather', tool_call_id: '1', content: 'sunny' },
    ])).toEqual([{ role: 'user', content: 'weather?\n\nTool result (get_weather):\nsunny' }]);
  });

  it('rejects non-text parts naming the part, or ignores them when asked', () => {
    const messages = [user([{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'data:' } }])];
    expect(() => normalizeMessages(messages)).toThrow(
      'Expected a part of type "text" (this server reads text only) for messages[0].content[1].type but received "image_url"',
    );
    expect(normalizeMessages(messages, { nonTextParts: 'ignore' })).toEqual([{ role: 'user', content: 'what is this?' }]);
    expect(() => normalizeMessages([{ role: 'user', content: 'see', images: ['aGk='] }])).toThrow(/messages\[0\]\.images/);
  });

  it('names the field of every malformed message', () => {
    expect(() => normalizeMessages([])).toThrow('Expected a non-empty array of messages for messages but received an array of 0');
    expect(() => normalizeMessages('hi')).toThrow(/for messages but received "hi"/);
    expect(() => normalizeMessages([user('a'), 'b'])).toThrow(/for messages\[1\] but received "b"/);
    expect(() => normalizeMessages([{ role: 'narrator', content: 'x' }])).toThrow(/for messages\[0\]\.role but received "narrator"/);
    expect(() => normalizeMessages([user(42)])).toThrow(/for messages\[0\]\.content but received 42/);
    expect(() => normalizeMessages([user(null)])).toThrow(/for messages\[0\]\.content but received null/);
    expect(() => normalizeMessages([user([{ type: 'text', text: 5 }])])).toThrow(/for messages\[0\]\.content\[0\]\.text/);
    expect(() => normalizeMessages([user('x')])).not.toThrow();
    expect(normalizeMessages([], { allowEmpty: true })).toEqual([]);
  });

  it('throws InvalidArgumentError', () => {
    expect(() => normalizeMessages([{ role: 1 }])).toThrow(InvalidArgumentError);
  });
});

describe('openAiSampling', () => {
  it('maps every field to the common shape', () => {
    expect(openAiSampling({
      temperature: 0.7, top_p: 0.9, max_tokens: 100, stop: '\n', seed: 42, presence_penalty: 0.5,
      frequency_penalty: -0.5, top_k: 40, min_p: 0.05, repeat_penalty: 1.1, response_format: { type: 'json_object' },
      unknown_field: 'ignored',
    })).toEqual({
      temperature: 0.7, topP: 0.9, maxTokens: 100, stop: ['\n'], seed: 42, presencePenalty: 0.5,
      frequencyPenalty: -0.5, topK: 40, minP: 0.05, repeatPenalty: 1.1, responseFormat: { type: 'json_object' },
    });
  });

  it('prefers max_completion_tokens, treats null as absent and -1 as no limit', () => {
    expect(openAiSampling({ max_tokens: 10, max_completion_tokens: 20 })).toEqual({ maxTokens: 20 });
    expect(openAiSampling({ max_tokens: null, temperature: null, stop: null })).toEqual({});
    expect(openAiSampling({ max_tokens: -1 })).toEqual({});
  });

  it('accepts stop as a string or an array and drops empty strings', () => {
    expect(openAiSampling({ stop: ['User:', '', '###'] }).stop).toEqual(['User:', '###']);
    expect(openAiSampling({ stop: [''] }).stop).toBeUndefined();
  });

  it('reads json_schema response formats and ignores text', () => {
    expect(openAiSampling({ response_format: { type: 'text' } })).toEqual({});
    expect(openAiSampling({
      response_format: { type: 'json_schema', json_schema: { name: 'reply', strict: true, schema: { type: 'object' } } },
    }).responseFormat).toEqual({ type: 'json_schema', name: 'reply', strict: true, schema: { type: 'object' } });
  });

  it.each([
    [{ temperature: 'x' }, 'Expected a number between 0 and 2 for temperature but received "x"'],
    [{ temperature: 2.5 }, 'Expected a number between 0 and 2 for temperature but received 2.5'],
    [{ top_p: 1.5 }, 'Expected a number between 0 and 1 for top_p but received 1.5'],
    [{ max_tokens: 0 }, 'Expected an integer >= 1 (or -1 for no limit) for max_tokens but received 0'],
    [{ max_completion_tokens: 1.5 }, 'Expected an integer >= 1 (or -1 for no limit) for max_completion_tokens but received 1.5'],
    [{ seed: 'abc' }, 'Expected an integer for seed but received "abc"'],
    [{ presence_penalty: 3 }, 'Expected a number between -2 and 2 for presence_penalty but received 3'],
    [{ frequency_penalty: Number.NaN }, 'Expected a number between -2 and 2 for frequency_penalty but received NaN'],
    [{ top_k: -1 }, 'Expected an integer >= 0 for top_k but received -1'],
    [{ min_p: 2 }, 'Expected a number between 0 and 1 for min_p but received 2'],
    [{ repeat_penalty: -1 }, 'Expected a number >= 0 for repeat_penalty but received -1'],
    [{ stop: 5 }, 'Expected a string or an array of strings for stop but received 5'],
    [{ stop: ['a', 3] }, 'Expected a string for stop[1] but received 3'],
    [{ response_format: { type: 'xml' } }, 'Expected "text", "json_object" or "json_schema" for response_format.type but received "xml"'],
    [{ response_format: { type: 'json_schema' } }, 'Expected an object for response_format.json_schema but received undefined'],
  ])('%j -> %s', (body, message) => {
    expect(() => openAiSampling(body)).toThrow(InvalidArgumentError);
    expect(() => openAiSampling(body)).toThrow(message);
  });
});

describe('normalizeOpenAiChat', () => {
  it('reads model, stream, include_usage and the generation request', () => {
    expect(normalizeOpenAiChat({
      model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'system', content: 'S' }, user('hi')], temperature: 0.2,
    })).toEqual({
      model: 'gpt-4o-mini', stream: true, includeUsage: true, chat: {},
      generation: { messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'hi' }], temperature: 0.2 },
    });
  });

  it('defaults stream and include_usage to false and leaves the model open', () => {
    const request = normalizeOpenAiChat({ messages: [user('hi')] });
    expect(request).toMatchObject({ model: undefined, stream: false, includeUsage: false });
  });

  it('reads tools, tool_choice and the reasoning extras, and keeps tool turns', () => {
    const tools = [{ type: 'function', function: { name: 'f' } }];
    const request = normalizeOpenAiChat({
      messages: [user('x'), { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'tool', tool_call_id: 'c1', content: '42' }],
      tools, tool_choice: 'required', parallel_tool_calls: true, reasoning_format: 'none', chat_template_kwargs: { enable_thinking: false },
    });
    expect(request.chat).toEqual({ tools, toolChoice: 'required', parallelToolCalls: true, reasoningFormat: 'none', chatTemplateKwargs: { enable_thinking: false } });
    expect(request.generation.messages).toEqual([
      { role: 'user', content: 'x' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { role: 'tool', content: '42', toolCallId: 'c1' },
    ]);
    expect(normalizeOpenAiChat({ messages: [user('x')], reasoning_effort: 'none' }).chat).toEqual({ chatTemplateKwargs: { enable_thinking: false } });
    expect(normalizeOpenAiChat({ messages: [user('x')], reasoning_effort: 'low', chat_template_kwargs: { a: 1 } }).chat).toEqual({ chatTemplateKwargs: { a: 1, reasoning_effort: 'low' } });
    expect(() => normalizeOpenAiChat({ messages: [user('x')], tools: 'f' })).toThrow(/an array for tools/);
    expect(() => normalizeOpenAiChat({ messages: [user('x')], tools, tool_choice: { type: 'function', function: { name: 'g' } } })).toThrow(/function named in tools/);
    expect(() => normalizeOpenAiChat({ messages: [user('x')], tools: Array(129).fill(tools[0]) })).toThrow(/at most 128 tools/);
    expect(() => normalizeOpenAiChat({ messages: [user('x')], chat_template_kwargs: { enable_thinking: 'no' } })).toThrow(/a boolean for chat_template_kwargs.enable_thinking/);
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 40; i++) at = (at.p = {}) as Record<string, unknown>;
    expect(() => normalizeOpenAiChat({ messages: [user('x')], tools: [{ type: 'function', function: { name: 'f', parameters: deep } }] })).toThrow(/nested at most 32/);
  });

  it('rejects a body that is not an object and bad top-level fields', () => {
    expect(() => normalizeOpenAiChat('hi')).toThrow('Expected a JSON object for the request body but received "hi"');
    expect(() => normalizeOpenAiChat({ messages: [user('x')], stream: 'yes' })).toThrow(/a boolean for stream/);
    expect(() => normalizeOpenAiChat({ messages: [user('x')], stream_options: { include_usage: 1 } }))
      .toThrow(/a boolean for stream_options.include_usage/);
    expect(() => normalizeOpenAiChat({ messages: [user('x')], model: 3 })).toThrow(/a string for model/);
  });
});

describe('normalizeOpenAiCompletion', () => {
  it('accepts a string or one-string prompt', () => {
    expect(normalizeOpenAiCompletion({ prompt: ['Once upon'], max_tokens: 5 })).toEqual({
      model: undefined, prompt: 'Once upon', stream: false, includeUsage: false, sampling: { maxTokens: 5 },
    });
    expect(() => normalizeOpenAiCompletion({ prompt: ['a', 'b'] })).toThrow(/a string for prompt/);
  });
});

describe('Ollama', () => {
  it('maps options with Ollama defaults and conventions', () => {
    expect(ollamaSampling({
      temperature: 3, num_predict: 128, top_p: 0.8, top_k: 20, stop: ['\n\n'], num_ctx: 4096, seed: 7, repeat_penalty: 1.2,
      mirostat: 1,
    })).toEqual({ temperature: 3, maxTokens: 128, topP: 0.8, topK: 20, stop: ['\n\n'], contextSize: 4096, seed: 7, repeatPenalty: 1.2 });
    expect(ollamaSampling({ num_predict: -1, seed: -1 })).toEqual({});
    expect(ollamaSampling({ num_predict: -2 })).toEqual({});
    expect(ollamaSampling(undefined)).toEqual({});
  });

  it('names options.<field> in errors', () => {
    expect(() => ollamaSampling({ temperature: 'hot' })).toThrow('Expected a number >= 0 for options.temperature but received "hot"');
    expect(() => ollamaSampling({ num_ctx: 0 })).toThrow('Expected an integer >= 1 for options.num_ctx but received 0');
    expect(() => ollamaSampling({ num_predict: -3 })).toThrow(/options.num_predict/);
    expect(() => ollamaSampling([1])).toThrow('Expected an object for options but received an array of 1');
  });

  it('normalises /api/chat with stream defaulting to true and empty messages allowed', () => {
    expect(normalizeOllamaChat({ model: 'gemma3', messages: [], keep_alive: 0 })).toEqual({
      model: 'gemma3', stream: true, keepAliveMs: 0, chat: {}, generation: { messages: [] },
    });
    expect(normalizeOllamaChat({
      model: 'gemma3', stream: false, format: 'json', options: { num_predict: 10 },
      messages: [{ role: 'user', content: 'hi' }],
    })).toEqual({
      model: 'gemma3', stream: false, keepAliveMs: undefined, chat: {},
      generation: { messages: [{ role: 'user', content: 'hi' }], maxTokens: 10, responseFormat: { type: 'json_object' } },
    });
  });

  it('normalises /api/generate', () => {
    expect(normalizeOllamaGenerate({ model: 'm', prompt: 'Why?', system: 'Be short', raw: false, options: { temperature: 0 } }))
      .toEqual({ model: 'm', prompt: 'Why?', system: 'Be short', raw: false, stream: true, keepAliveMs: undefined, sampling: { temperature: 0 } });
    expect(normalizeOllamaGenerate({ model: 'm' }).prompt).toBe('');
    expect(() => normalizeOllamaGenerate({ format: 'yaml' })).toThrow(/"json" or a JSON schema object for format/);
  });

  it.each([
    [undefined, undefined], [null, undefined], [0, 0], [300, 300_000], ['5m', 300_000], ['1h30m', 5_400_000],
    ['10s', 10_000], ['250ms', 250], ['0', 0], ['-1', Infinity], [-1, Infinity], ['-1m', Infinity], ['1.5h', 5_400_000],
  ])('keep_alive %j -> %j ms', (value, ms) => {
    expect(parseKeepAlive(value)).toBe(ms);
  });

  it('rejects a bad keep_alive', () => {
    expect(() => parseKeepAlive('forever')).toThrow('Expected a number of seconds or a duration such as "5m" for keep_alive but received "forever"');
  });
});

describe('normalizeLlamaCppCompletion', () => {
  it('maps llama.cpp fields', () => {
    expect(normalizeLlamaCppCompletion({
      prompt: 'Hello', stream: true, n_predict: 64, temperature: 0.8, stop: ['</s>'], cache_prompt: true,
      top_k: 40, top_p: 0.95, min_p: 0.05, repeat_penalty: 1.1, seed: 1, json_schema: { type: 'object' },
    })).toEqual({
      prompt: 'Hello', stream: true,
      sampling: {
        maxTokens: 64, temperature: 0.8, stop: ['</s>'], cachePrompt: true, topK: 40, topP: 0.95, minP: 0.05,
        repeatPenalty: 1.1, seed: 1, responseFormat: { type: 'json_schema', schema: { type: 'object' } },
      },
    });
  });

  it('follows llama.cpp conventions for -1 and token prompts', () => {
    expect(normalizeLlamaCppCompletion({ prompt: [1, 2, 3], n_predict: -1, seed: -1 })).toEqual({ prompt: [1, 2, 3], stream: false, sampling: {} });
    expect(normalizeLlamaCppCompletion({ prompt: 'x', n_predict: 0 }).sampling).toEqual({ maxTokens: 0 });
  });

  it('names the field in errors', () => {
    expect(() => normalizeLlamaCppCompletion({ prompt: 'x', n_predict: 'ten' })).toThrow('Expected an integer >= -1 for n_predict but received "ten"');
    expect(() => normalizeLlamaCppCompletion({ prompt: 'x', cache_prompt: 'yes' })).toThrow('Expected a boolean for cache_prompt but received "yes"');
    expect(() => normalizeLlamaCppCompletion({ prompt: 'x', temperature: -0.5 })).toThrow(/a number >= 0 for temperature/);
    expect(() => normalizeLlamaCppCompletion({})).toThrow('Expected a string or an array of token ids for prompt but received undefined');
    expect(() => normalizeLlamaCppCompletion({ prompt: ['a', 'b'] })).toThrow(/several prompts in one request are not supported/);
  });
});
