/** The speech tab in a real browser: sentence cards from /api/speech/stream, time to first sentence, speaking them. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPlayground, skipReason, type Playground } from './browser.js';

/**
 * Records utterances instead of speaking them, and offers three voices (headless chromium may
 * have none); the server is real.
 */
function recordSpeech() {
  const w = window as unknown as { spoken: { text: string; lang: string; voice?: string }[]; cancels: number };
  w.spoken = [];
  w.cancels = 0;
  const voices = [
    { name: 'Kyoko', lang: 'ja-JP', voiceURI: 'test-kyoko', localService: true, default: false },
    { name: 'Otoya', lang: 'ja-JP', voiceURI: 'test-otoya', localService: false, default: false },
    { name: 'Samantha', lang: 'en-US', voiceURI: 'test-samantha', localService: true, default: true },
  ];
  speechSynthesis.getVoices = () => voices as unknown as SpeechSynthesisVoice[];
  // The real setter accepts only the browser's own voice objects.
  Object.defineProperty(SpeechSynthesisUtterance.prototype, 'voice', {
    configurable: true,
    get(this: { testVoice?: unknown }) {
      return this.testVoice ?? null;
    },
    set(this: { testVoice?: unknown }, voice: unknown) {
      this.testVoice = voice;
    },
  });
  speechSynthesis.speak = (utterance) => {
    w.spoken.push({ text: utterance.text, lang: utterance.lang, voice: utterance.voice?.name });
    // Each one "starts" at once and never ends: the card of the last one queued is the one being spoken.
    setTimeout(() => utterance.onstart?.call(utterance, new Event('start') as SpeechSynthesisEvent));
  };
  speechSynthesis.cancel = () => void w.cancels++;
}

const AVATAR_REPLY = '[happy] こんにちは！今日は、とても良い天気ですね。[motion:bow] 私は**アカ**です。';

describe.skipIf(skipReason)('playground speech tab', () => {
  let p: Playground;
  beforeAll(async () => {
    p = await openPlayground();
    // A story prompt: stories260K continues it with short sentences.
    await p.server.akachat.prompts.save('story', 'Once upon a time, there was a little girl.', { template: '{bos_token}{instruction} {input}', max_new_tokens: 60, temperature: 0 });
    // An avatar whose reply a grammar fixes (a real generation on stories260K): tags, markdown, Japanese.
    await p.server.akachat.prompts.save('avatar', 'Hello', { template: '{bos_token}{instruction} {input}', max_new_tokens: 200, grammar: `root ::= "${AVATAR_REPLY}"` });
    await p.page.addInitScript(recordSpeech);
    await p.page.reload();
    await p.openTab('speech');
  });
  afterAll(async () => p?.close());

  const turns = () => p.page.getByTestId('speech-turn');
  /** Sends `text` (Enter, or the Send button) and waits for the reply to be done; returns its turn. */
  async function say(text: string, how: 'enter' | 'button' = 'enter') {
    await p.page.getByTestId('speech-text').fill(text);
    if (how === 'enter') await p.page.getByTestId('speech-text').press('Enter');
    else await p.page.getByTestId('speech-send').click();
    const turn = turns().last();
    await turn.and(p.page.locator('[data-state="done"]')).waitFor({ timeout: 30_000 });
    return turn;
  }

  it('shows the reply as sentence cards with the time to the first sentence', async () => {
    const page = p.page;
    await page.getByTestId('speech-prompt').selectOption('story');
    const turn = await say('She');
    const cards = turn.getByTestId('sentence-card');
    expect(await cards.count()).toBeGreaterThan(1);
    expect(await cards.first().getAttribute('data-index')).toBe('0');
    expect(await turn.getByTestId('first-sentence').textContent()).toMatch(/\d+(\.\d+)? m?s/);
    // The draft is cleared and Send waits for new text.
    expect(await page.getByTestId('speech-text').inputValue()).toBe('');
    expect(await page.getByTestId('speech-send').isDisabled()).toBe(true);
  });

  it('queues each sentence for speech synthesis as it arrives when Speak is on', async () => {
    const page = p.page;
    await page.getByTestId('speech-speak').check();
    const turn = await say('He', 'button');
    const texts = (await turn.getByTestId('sentence-card').locator('.sentence-text').allTextContents()).filter((text) => text.trim() !== '');
    const spoken = await page.evaluate(() => (window as unknown as { spoken: { text: string; lang: string }[] }).spoken);
    expect(texts.length).toBeGreaterThan(1);
    // One utterance per sentence, in order (the speech text is the display text without markup: the same for these stories).
    expect(spoken.map((u) => u.text)).toEqual(texts.map((text) => text.replace(/\s+/g, ' ').trim()));
    expect(spoken[0].lang).toBe('en');
    const speaking = turn.locator('[data-testid="sentence-card"][aria-current="true"] .sentence-text');
    expect(await speaking.textContent()).toBe(texts.at(-1));
    expect(await turns().count()).toBe(2);
  });

  it('shows emotion and motion tags, and speaks the text without markdown', async () => {
    const page = p.page;
    await page.getByTestId('speech-prompt').selectOption('avatar');
    const turn = await say('Who are you?');
    const cards = turn.getByTestId('sentence-card');
    // A comma does not end a short sentence (the server's min_comma_length 40).
    expect(await cards.locator('.sentence-text').allTextContents()).toEqual(['こんにちは！', '今日は、とても良い天気ですね。', '私は**アカ**です。']);
    expect(await cards.nth(0).getByTestId('sentence-emotion').textContent()).toBe('emotion: happy');
    expect(await cards.nth(2).getByTestId('sentence-motion').textContent()).toBe('motion: bow');
    expect(await cards.nth(1).getByTestId('sentence-emotion').count()).toBe(0);
    expect(await cards.nth(2).locator('.sentence-speech').textContent()).toContain('私はアカです。');
    const spoken = await page.evaluate(() => (window as unknown as { spoken: { text: string }[] }).spoken.slice(-3).map((u) => u.text));
    expect(spoken).toEqual(['こんにちは！', '今日は、とても良い天気ですね。', '私はアカです。']);
    await p.screenshot('speech-en');
  });

  it('offers the voices of the chosen language and speaks with the one picked, split at commas when asked', async () => {
    const page = p.page;
    const voiceNames = () => page.getByTestId('speech-voice').locator('option').allTextContents();
    expect(await page.getByTestId('speech-lang').inputValue()).toBe('en'); // the page's language
    expect(await voiceNames()).toEqual(['browser default', 'Samantha']);
    await page.getByTestId('speech-lang').selectOption('ja');
    expect(await voiceNames()).toEqual(['browser default', 'Kyoko', 'Otoya (online)']);
    await page.getByTestId('speech-voice').selectOption('test-kyoko');
    await page.getByTestId('speech-comma').fill('3');
    const turn = await say('Again?');
    const spoken = await page.evaluate(() => (window as unknown as { spoken: { lang: string; voice?: string }[] }).spoken.slice(-4));
    const texts = ['こんにちは！', '今日は、', 'とても良い天気ですね。', '私はアカです。'];
    expect(spoken).toEqual(texts.map((text) => ({ text, lang: 'ja-JP', voice: 'Kyoko' })));
    await page.getByTestId('speech-comma').fill('');
    // A card's ▶ says its sentence again.
    await turn.getByTestId('sentence-card').nth(3).getByTestId('sentence-say').click();
    expect(await page.evaluate(() => (window as unknown as { spoken: { text: string }[] }).spoken.at(-1)!.text)).toBe('私はアカです。');
  });

  it('stops a reply and cancels its speech', async () => {
    const page = p.page;
    await page.getByTestId('speech-prompt').selectOption('story');
    await page.getByTestId('speech-max-tokens').fill('400'); // long enough to be stopped mid-reply
    await page.getByTestId('speech-text').fill('They');
    // Send, then Stop the moment it shows, inside the page: the whole reply takes a few hundred ms.
    await page.evaluate(async () => {
      document.querySelector<HTMLElement>('[data-testid="speech-send"]')!.click();
      const stopButton = () => document.querySelector<HTMLElement>('[data-testid="speech-stop"]');
      while (!stopButton()) await new Promise((resolve) => setTimeout(resolve));
      stopButton()!.click();
    });
    const turn = turns().last();
    await turn.and(page.locator(':not([data-state="waiting"]):not([data-state="streaming"])')).waitFor({ timeout: 30_000 });
    expect(`${await turn.getAttribute('data-state')} ${await turn.getByTestId('speech-stats').textContent()}`).toMatch(/^stopped /);
    expect(await page.evaluate(() => (window as unknown as { cancels: number }).cancels)).toBeGreaterThan(0);
    await page.getByTestId('speech-send').waitFor();
  });

  it('reads in Japanese too', async () => {
    await p.page.selectOption('select[aria-label="Language"]', 'ja');
    await p.page.getByTestId('speech-send').filter({ hasText: '送信' }).waitFor();
    await p.screenshot('speech-ja');
    await p.page.emulateMedia({ colorScheme: 'dark' });
    await p.screenshot('speech-dark');
    await p.page.emulateMedia({ colorScheme: 'light' });
    await p.page.selectOption('select[aria-label="Language"]', 'en');
  });

  it('runs under the CSP without violations or console errors', async () => {
    expect(p.problems).toEqual([]);
  });
});
