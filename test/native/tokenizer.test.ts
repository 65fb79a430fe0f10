import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Model, readGgufMetadata } from '../../src/engine/index.js';
import { addonBuilt, sharedModel } from '../support/models.js';

const vocab32k = addonBuilt ? sharedModel('tinyRandom32k') : undefined;

describe.skipIf(!vocab32k)('tokenizer with the 32k Llama-2 vocabulary', () => {
  let model: Model;
  beforeAll(async () => { model = await Model.load(vocab32k!); });
  afterAll(() => model?.dispose());

  const samples = [
    'こんにちは、世界！今日はいい天気ですね。',
    '吾輩は猫である。名前はまだ無い。',
    'Emoji: 😀🎉👍🏽 and 家族👨‍👩‍👧‍👦',
    'Mixed: 日本語 English 123 ｶﾀｶﾅ',
  ];

  it.each(samples)('round-trips %s', (text) => {
    const tokens = model.tokenize(text, { addSpecial: false });
    expect(tokens.length).toBeGreaterThan(0);
    expect(model.detokenize(tokens)).toBe(text);
  });

  it('adds BOS when asked and exposes BOS/EOS text', () => {
    const tokens = model.tokenize('hello', { addSpecial: true });
    expect(tokens[0]).toBe(model.info.bosToken);
    expect(model.info.bosText).toBe('<s>');
    expect(model.info.eosText).toBe('</s>');
    expect(model.info.vocabSize).toBe(32000);
  });

  it('parses special-token text only when asked', () => {
    const parsed = model.tokenize('<s>hi', { addSpecial: false, parseSpecial: true });
    const literal = model.tokenize('<s>hi', { addSpecial: false, parseSpecial: false });
    expect(parsed[0]).toBe(model.info.bosToken);
    expect(literal[0]).not.toBe(model.info.bosToken);
  });

  it('applies a named built-in chat template and the chatml fallback', async () => {
    const messages = [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'やあ' }];
    const chatml = await model.applyChatTemplate(messages, { template: 'chatml' });
    expect(chatml).toBe('<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nやあ<|im_end|>\n<|im_start|>assistant\n');
    const llama2 = await model.applyChatTemplate(messages, { template: 'llama2-sys' });
    expect(llama2).toContain('<<SYS>>');
    expect(llama2).toContain('やあ');
    const jinja = await model.applyChatTemplate(messages, { template: "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}" });
    expect(jinja).toBe('[system]Be kind.[user]やあ[assistant]');
  });

  it('keeps parsed templates apart: each override gives its own text on every call, with new messages', async () => {
    const a = "{% for m in messages %}<{{ m.content }}>{% endfor %}";
    const b = "{% for m in messages %}({{ m.content }}){% endfor %}";
    for (const text of ['one', 'two', 'three']) {
      const messages = [{ role: 'user', content: text }];
      expect(await model.applyChatTemplate(messages, { template: a, addGenerationPrompt: false })).toBe(`<${text}>`);
      expect(await model.applyChatTemplate(messages, { template: b, addGenerationPrompt: false })).toBe(`(${text})`);
      expect(await model.applyChatTemplate(messages, { template: 'chatml' })).toContain(text);
    }
    // A template that fails to parse is not remembered as a good one.
    await expect(model.applyChatTemplate([{ role: 'user', content: 'x' }], { template: '{% for %}' })).rejects.toThrow();
    await expect(model.applyChatTemplate([{ role: 'user', content: 'x' }], { template: '{% for %}' })).rejects.toThrow();
  });

  it('summarises arrays over 1024 items when reading metadata without loading', async () => {
    const meta = await readGgufMetadata(vocab32k!);
    expect(meta.metadata['tokenizer.ggml.tokens']).toEqual({ type: 'array', elementType: 'str', length: 32000 });
  });

  it('rejects tokens outside the vocabulary', () => {
    expect(() => model.detokenize([5, 99999])).toThrow(/outside the vocabulary/);
  });
});
