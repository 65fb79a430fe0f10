/** POST /api/prompt/run (the playground's run of an unsaved prompt): the envelope and the SSE form. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSse } from '../../src/http/sse.js';
import { postJson, readChunks, startServer, stories, waitFor, type TestServer } from './helpers.js';

type RunEvent = Record<string, unknown> & { type: string };

async function runEvents(response: Response): Promise<RunEvent[]> {
  return (await readChunks(response)).flatMap((chunk) => parseSse(chunk)).map((payload) => JSON.parse(payload) as RunEvent);
}

/** A Jinja chat template (stories260K has none), rendered by the template sandbox. */
const CHAT_TEMPLATE = '{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}<|assistant|>';

const STORY = { template: '{bos_token}{instruction} {input}', max_new_tokens: 24, temperature: 0 };

describe.skipIf(!stories)('POST /api/prompt/run on stories260K', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ model: stories });
    await t.akachat.vars.set('name', 'Lily');
  });
  afterAll(async () => t?.close());

  it('streams detail (each function\'s output marked), text chunks and done with the stats', async () => {
    const instruction = 'Once upon a time, there was a girl named {var.name}.{iif(input == "She", " She was happy.", " Sad.")}';
    const response = await postJson(`${t.url}/api/prompt/run`, { instruction, input: 'She', options: STORY, stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await runEvents(response);
    expect(events.map((event) => event.type).filter((type, i, all) => all[i - 1] !== type)).toEqual(['detail', 'text', 'done']);

    const detail = events[0];
    expect(detail.parts).toEqual([
      { source: null, line: 1, column: 1, output: 'Once upon a time, there was a girl named ' },
      { source: 'var', line: 1, column: 42, output: 'Lily' },
      { source: null, line: 1, column: 52, output: '.' },
      { source: 'iif', line: 1, column: 53, output: ' She was happy.' },
    ]);
    expect(detail.instruction).toBe('Once upon a time, there was a girl named Lily. She was happy.');
    expect(detail.template_text).toBe('<s>Once upon a time, there was a girl named Lily. She was happy. She');
    expect(detail.messages).toBeNull();

    const texts = events.filter((event) => event.type === 'text').map((event) => event.text as string);
    expect(texts.length).toBeGreaterThan(1);
    const done = events.at(-1)!;
    expect(done.text).toBe(texts.join(''));
    expect(done).toMatchObject({ stop_reason: 'maxTokens', model: 'stories260K.gguf', usage: { completion_tokens: 24 } });
    expect(done.usage).toMatchObject({ prompt_tokens: expect.any(Number), reused_tokens: expect.any(Number) });
    expect(done.duration_ms).toBeGreaterThan(0);
    expect(done.first_token_ms).toBeGreaterThan(0);
    expect(done.tokens_per_second).toBeGreaterThan(0);
    expect(done.rendered_prompt).toBe(detail.template_text);

    // Greedy: the envelope form generates the same text.
    const whole = await (await postJson(`${t.url}/api/prompt/run`, { instruction, input: 'She', options: STORY })).json() as { result: string };
    expect(whole.result).toBe(done.text);
  });

  it('sends the chat history in messages mode', async () => {
    const history = [{ role: 'user', content: 'Who is Lily?' }, { role: 'assistant', content: 'A girl.' }];
    // A chat template is the owner's: the draft runs with the one its saved prompt has.
    const options = { is_messages: true, chat_template: CHAT_TEMPLATE, max_new_tokens: 4, temperature: 0 };
    await t.akachat.prompts.save('teller', 'You tell stories.', options);
    const response = await postJson(`${t.url}/api/prompt/run`, {
      name: 'teller', instruction: 'You tell stories about {var.name}.', input: 'Tell me more.', messages: history, stream: true, options,
    });
    const events = await runEvents(response);
    expect(events[0].messages).toEqual([{ role: 'system', content: 'You tell stories about Lily.' }, ...history, { role: 'user', content: 'Tell me more.' }]);
    expect(events.at(-1)!.rendered_prompt).toBe('<|system|>You tell stories about Lily.\n<|user|>Who is Lily?\n<|assistant|>A girl.\n<|user|>Tell me more.\n<|assistant|>');
  });

  it('is the owner\'s run: test() follows the is_test setting (a WebAPI run of the same prompt leaves it out)', async () => {
    const options = { template: '{instruction}', max_new_tokens: 1 };
    const instruction = 'Lily{test(" TEST")}';
    await t.akachat.settings.set('is_test', true);
    try {
      const on = await runEvents(await postJson(`${t.url}/api/prompt/run`, { instruction, options, stream: true }));
      expect(on[0].instruction).toBe('Lily TEST');
      await t.akachat.prompts.save('with-test', instruction, options);
      const viaWebApi = await (await postJson(`${t.url}/api/prompt/infer`, { name: 'with-test' })).json() as { detail: { instruction: string } };
      expect(viaWebApi.detail.instruction).toBe('Lily');
    } finally {
      await t.akachat.settings.set('is_test', false);
    }
    const off = await runEvents(await postJson(`${t.url}/api/prompt/run`, { instruction, options, stream: true }));
    expect(off[0].instruction).toBe('Lily');
  });

  it('answers a template error with its real status and position before streaming; a later failure is an error event', async () => {
    const bad = await postJson(`${t.url}/api/prompt/run`, { instruction: 'Hi\n{iif(}', options: STORY, stream: true });
    expect(bad.status).toBe(400);
    expect((await bad.json() as { message: string }).message).toMatch(/line 2, column \d+/);
    const missingVar = await postJson(`${t.url}/api/prompt/run`, { instruction: '{var.nobody}', options: STORY, stream: true });
    expect(missingVar.status).toBe(400);
    expect((await missingVar.json() as { message: string }).message).toMatch(/"nobody" not found in vars \(line 1, column 2\)/);
    const badStream = await postJson(`${t.url}/api/prompt/run`, { instruction: 'x', stream: 'yes' });
    expect(badStream.status).toBe(400);
    expect((await badStream.json() as { message: string }).message).toBe('Expected a boolean for stream but received "yes"');

    // Messages mode loads the model after the detail is sent: its failure ends the stream as an event.
    const missing = { is_messages: true, model: `${t.dataDir}/missing.gguf` };
    await t.akachat.prompts.save('missing', 'Hi', missing);
    const noModel = await postJson(`${t.url}/api/prompt/run`, { name: 'missing', instruction: 'Hi', input: 'x', options: missing, stream: true });
    expect(noModel.status).toBe(200);
    const events = await runEvents(noModel);
    expect(events.map((event) => event.type)).toEqual(['detail', 'error']);
    expect(events[1]).toMatchObject({ status: expect.any(Number), message: expect.stringMatching(/missing\.gguf/) });
    expect(events[1].message).not.toContain(t.dataDir); // paths by base name only
  });

  it('takes a listed model name for the run (the compare tab\'s columns), never a path', async () => {
    const { default_model_id: id } = await (await fetch(`${t.url}/api/models`)).json() as { default_model_id: string };
    const listed = await runEvents(await postJson(`${t.url}/api/prompt/run`, { instruction: 'Lily', model: id, options: { template: '{instruction}', max_new_tokens: 2 }, stream: true }));
    expect(listed.at(-1)).toMatchObject({ type: 'done', model: 'stories260K.gguf' });
    const path = await postJson(`${t.url}/api/prompt/run`, { instruction: 'Lily', model: stories, options: { template: '{instruction}' }, stream: true });
    expect(path.status).toBe(400);
    expect((await path.json() as { message: string }).message).toMatch(/^Expected a model name listed by \/v1\/models/);
  });

  it('stops generating and frees the slot when the client closes the stream', async () => {
    const queue = t.server.app.queue;
    const before = t.reports.length;
    const controller = new AbortController();
    const response = await postJson(`${t.url}/api/prompt/run`, {
      instruction: 'Once upon a time', stream: true, options: { template: '{instruction}', max_new_tokens: 4000, temperature: 1, seed: 1 },
    }, { signal: controller.signal });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let seen = '';
    while ((seen.match(/"type":"text"/g) ?? []).length < 3) {
      const chunk = await reader.read();
      expect(chunk.done).toBe(false);
      seen += decoder.decode(chunk.value, { stream: true });
    }
    expect(queue.running).toBe(1);
    controller.abort();
    await waitFor(() => t.reports.length > before, 5000, 'the report');
    expect(t.reports[before]).toMatchObject({ route: 'POST /api/prompt/run', outcome: 'aborted' });
    await waitFor(() => queue.running === 0, 5000, 'the slot to be freed');
    const next = await postJson(`${t.url}/api/prompt/run`, { instruction: 'Lily', options: { template: '{instruction}', max_new_tokens: 2 } });
    expect((await next.json() as { status: number }).status).toBe(0);
  });
});
