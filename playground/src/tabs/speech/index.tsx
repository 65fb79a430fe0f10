/**
 * The speech tab: talk to the avatar. Each reply arrives as sentence events from
 * POST /api/speech/stream (display text, text for TTS, leading emotion / motion tags), shown as
 * cards with the time each one arrived, optionally spoken by the browser's speech synthesis as
 * they come — what a digital human's client does with the stream.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { events, isAbort } from '../../api';
import { useModels, usePromptNames } from '../../components/catalog';
import { usePageKeydown } from '../../components/keys';
import { ErrorLine } from '../../components/status';
import { formatMs, formatRate, statsFrom, tokensPerSecond, type RunStats } from '../../components/stats';
import { useStored } from '../../components/stored';
import { language } from '../../i18n';
import { useT } from './messages';
import { primaryLanguage, synthesis, useSpeaker, useVoices } from './voice';
import './speech.css';

/** One event of the stream before `done` (src/http/speech.ts Sentence). */
interface Sentence {
  index: number;
  text: string;
  speech: string;
  emotion?: string;
  motion?: string;
  code?: true;
  /** Milliseconds from Send to its arrival (measured here). */
  at: number;
}

type TurnState = 'waiting' | 'streaming' | 'done' | 'stopped' | 'error';

interface Turn {
  id: number;
  user: string;
  sentences: Sentence[];
  state: TurnState;
  /** The whole reply (from `done`); what the next turn sends back as the assistant's message. */
  reply?: string;
  stats?: RunStats & { firstSentenceMs?: number | null };
  error?: unknown;
}

interface Settings {
  prompt: string;
  model: string;
  maxTokens: string;
  /** The route's min_comma_length: a comma ends a sentence once it is this long ('' = the server's 40). */
  commaLength: string;
  temperature: string;
  speak: boolean;
  lang: string;
  voice: string;
  rate: number;
}

const DEFAULTS: Settings = { prompt: '', model: '', maxTokens: '', commaLength: '', temperature: '', speak: false, lang: '', voice: '', rate: 1 };

/** A number field's value, or undefined when empty. */
function numberOrUndefined(value: string): number | undefined {
  const trimmed = value.trim();
  return trimmed === '' ? undefined : Number(trimmed);
}

/** The request body: a prompt call when a prompt is picked, else an OpenAI chat body. */
function requestBody(settings: Settings, history: { role: string; content: string }[], input: string): Record<string, unknown> {
  const maxTokens = numberOrUndefined(settings.maxTokens);
  const temperature = numberOrUndefined(settings.temperature);
  const model = settings.model || undefined;
  const split = { min_comma_length: numberOrUndefined(settings.commaLength) };
  if (settings.prompt) return { name: settings.prompt, input, messages: history, model, max_new_tokens: maxTokens, temperature, ...split };
  return { model, messages: [...history, { role: 'user', content: input }], max_tokens: maxTokens, temperature, ...split };
}

export function SpeechTab() {
  const t = useT();
  const models = useModels();
  const prompts = usePromptNames();
  const [settings, setSettings] = useStored<Settings>('akachat.speech.settings', DEFAULTS);
  const [draft, setDraft] = useStored('akachat.speech.draft', '');
  const [turns, setTurns] = useState<Turn[]>([]);
  const [running, setRunning] = useState<AbortController>();
  const voices = useVoices();
  const lang = settings.lang || primaryLanguage(language());
  const speaker = useSpeaker({ lang, voice: settings.voice, rate: settings.rate }, voices);
  // Read when a sentence arrives, so toggling speech mid-reply applies to the next sentence.
  const live = useRef({ speaker, speak: settings.speak });
  live.current = { speaker, speak: settings.speak };
  const log = useRef<HTMLDivElement>(null);
  const nextId = useRef(1);

  const set = (patch: Partial<Settings>) => setSettings((old) => ({ ...old, ...patch }));
  const update = (id: number, change: (turn: Turn) => Partial<Turn>) => setTurns((all) => all.map((turn) => (turn.id === id ? { ...turn, ...change(turn) } : turn)));

  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [turns]);
  // Leaving the tab ends the reply (its voice is cancelled by useSpeaker).
  const runningRef = useRef(running);
  runningRef.current = running;
  useEffect(() => () => runningRef.current?.abort(), []);

  async function send() {
    const input = draft.trim();
    if (input === '' || running) return;
    const id = nextId.current++;
    const history = turns.filter((turn) => turn.reply !== undefined).flatMap((turn) => [
      { role: 'user', content: turn.user },
      { role: 'assistant', content: turn.reply! },
    ]);
    const controller = new AbortController();
    setRunning(controller);
    setDraft('');
    setTurns((all) => [...all, { id, user: input, sentences: [], state: 'waiting' }]);
    const started = performance.now();
    let done = false;
    try {
      for await (const event of events('/api/speech/stream', requestBody(settings, history, input), controller.signal)) {
        const data = JSON.parse(event.data) as Record<string, unknown>;
        if (data.error) throw new Error(String((data.error as { message?: unknown }).message ?? data.error));
        if (data.done) {
          const stats = { ...statsFrom(data), firstSentenceMs: typeof data.first_sentence_ms === 'number' ? data.first_sentence_ms : null };
          update(id, () => ({ state: 'done', reply: String(data.text ?? ''), stats }));
          done = true;
          continue;
        }
        const sentence = { ...(data as unknown as Sentence), at: performance.now() - started };
        update(id, (turn) => ({ state: 'streaming', sentences: [...turn.sentences, sentence] }));
        if (live.current.speak && !sentence.code) live.current.speaker.speak(sentence.speech, `${id}:${sentence.index}`);
      }
      if (!done) throw new Error(t('cut'));
    } catch (error) {
      update(id, () => (isAbort(error) ? { state: 'stopped' } : { state: 'error', error }));
    } finally {
      setRunning(undefined);
    }
  }

  function stop() {
    running?.abort();
    speaker.cancel();
  }

  // Esc stops the reply and the voice wherever the focus is.
  usePageKeydown((e) => e.key === 'Escape' && stop());

  const languages = [...new Set(voices.map((voice) => primaryLanguage(voice.lang)))].sort();
  if (!languages.includes(lang)) languages.unshift(lang);
  const langVoices = voices.filter((voice) => primaryLanguage(voice.lang) === lang);

  return (
    <div class="speech">
      <section class="card speech-controls" aria-label={t('settings')}>
        <div class="row">
          <label>
            {t('prompt')}{' '}
            <select data-testid="speech-prompt" value={settings.prompt} onChange={(e) => set({ prompt: e.currentTarget.value })}>
              <option value="">{t('noPrompt')}</option>
              {(prompts.data ?? []).map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
              {settings.prompt && !prompts.data?.includes(settings.prompt) && <option value={settings.prompt}>{settings.prompt}</option>}
            </select>
          </label>
          <label>
            {t('model')}{' '}
            <select data-testid="speech-model" value={settings.model} onChange={(e) => set({ model: e.currentTarget.value })}>
              <option value="">{t('defaultModel', { name: models.data?.default_model_id ?? '—' })}</option>
              {(models.data?.available ?? []).map((entry) => (
                <option key={entry.id} value={entry.id}>
                  {entry.id}
                  {entry.kind === 'model' ? '' : ` (${entry.kind})`}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('maxTokens')}{' '}
            <input type="number" min={1} class="speech-num" data-testid="speech-max-tokens" placeholder={t('auto')} value={settings.maxTokens} onInput={(e) => set({ maxTokens: e.currentTarget.value })} />
          </label>
          <label>
            {t('temperature')}{' '}
            <input type="number" min={0} step={0.1} class="speech-num" placeholder={t('auto')} value={settings.temperature} onInput={(e) => set({ temperature: e.currentTarget.value })} />
          </label>
          <label title={t('commaHint')}>
            {t('commaLength')}{' '}
            <input type="number" min={1} class="speech-num" data-testid="speech-comma" placeholder="40" value={settings.commaLength} onInput={(e) => set({ commaLength: e.currentTarget.value })} />
          </label>
        </div>
        <ErrorLine error={prompts.error ?? models.error} />
        <div class="row">
          {synthesis ? (
            <>
              <label class="speech-toggle">
                <input type="checkbox" data-testid="speech-speak" checked={settings.speak} onChange={(e) => {
                  set({ speak: e.currentTarget.checked });
                  if (!e.currentTarget.checked) speaker.cancel();
                }} />{' '}
                {t('speak')}
              </label>
              <label>
                {t('language')}{' '}
                <select data-testid="speech-lang" value={lang} disabled={!settings.speak} onChange={(e) => set({ lang: e.currentTarget.value, voice: '' })}>
                  {languages.map((code) => (
                    <option key={code} value={code}>
                      {code}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                {t('voice')}{' '}
                <select data-testid="speech-voice" value={settings.voice} disabled={!settings.speak} onChange={(e) => set({ voice: e.currentTarget.value })}>
                  <option value="">{t('defaultVoice')}</option>
                  {langVoices.map((voice) => (
                    <option key={voice.voiceURI} value={voice.voiceURI}>
                      {voice.name}
                      {voice.localService ? '' : ` (${t('online')})`}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                {t('rate')}{' '}
                <input type="range" min={0.5} max={2} step={0.1} value={settings.rate} disabled={!settings.speak} onInput={(e) => set({ rate: Number(e.currentTarget.value) })} />{' '}
                <span class="mono">{settings.rate.toFixed(1)}×</span>
              </label>
              {settings.speak && voices.length > 0 && langVoices.length === 0 && <span class="muted">{t('noVoices', { lang })}</span>}
            </>
          ) : (
            <span class="muted">{t('noSynthesis')}</span>
          )}
          <span class="spacer" />
          <button type="button" onClick={() => setTurns([])} disabled={!!running || turns.length === 0}>
            {t('clear')}
          </button>
        </div>
      </section>

      <div class="speech-log" ref={log} aria-live="polite" data-testid="speech-log">
        {turns.length === 0 && <p class="muted speech-empty">{t('empty')}</p>}
        {turns.map((turn) => (
          <TurnView key={turn.id} turn={turn} speaking={speaker.speaking} onSpeak={synthesis && ((sentence) => speaker.speak(sentence.speech, `${turn.id}:${sentence.index}`))} />
        ))}
      </div>

      <form
        class="speech-input"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <textarea
          data-testid="speech-text"
          rows={2}
          value={draft}
          placeholder={t('placeholder')}
          aria-label={t('placeholder')}
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={(e) => {
            // Enter sends; Shift+Enter is a new line; Enter that confirms an IME conversion is not a send.
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              void send();
            }
          }}
        />
        {running ? (
          <button type="button" data-testid="speech-stop" onClick={stop}>
            {t('stop')}
          </button>
        ) : (
          <button type="submit" class="primary" data-testid="speech-send" disabled={draft.trim() === ''}>
            {t('send')}
          </button>
        )}
      </form>
    </div>
  );
}

/** `onSpeak` (when the browser can speak) says one sentence again, e.g. with another voice. */
function TurnView({ turn, speaking, onSpeak }: { turn: Turn; speaking: string | undefined; onSpeak?: (sentence: Sentence) => void }) {
  const t = useT();
  const firstSentence = turn.sentences[0]?.at;
  const stats = turn.stats;
  return (
    <article class="speech-turn" data-testid="speech-turn" data-state={turn.state}>
      <div class="speech-user">{turn.user}</div>
      <ol class="speech-sentences">
        {turn.sentences.map((sentence) => (
          <li
            key={sentence.index}
            class={speaking === `${turn.id}:${sentence.index}` ? 'sentence-card speaking' : 'sentence-card'}
            aria-current={speaking === `${turn.id}:${sentence.index}` ? 'true' : undefined}
            data-testid="sentence-card"
            data-index={sentence.index}
          >
            <div class="sentence-meta">
              <span class="mono muted" title={t('arrivedHint')}>
                +{formatMs(sentence.at)}
              </span>
              {sentence.emotion && (
                <span class="tag emotion" data-testid="sentence-emotion">
                  {t('emotion')}: {sentence.emotion}
                </span>
              )}
              {sentence.motion && (
                <span class="tag motion" data-testid="sentence-motion">
                  {t('motion')}: {sentence.motion}
                </span>
              )}
              {(sentence.code || sentence.speech === '') && <span class="tag silent">{t('silent')}</span>}
              {onSpeak && !sentence.code && sentence.speech !== '' && (
                <button type="button" class="sentence-say" data-testid="sentence-say" aria-label={t('sayAgain')} title={t('sayAgain')} onClick={() => onSpeak(sentence)}>
                  ▶
                </button>
              )}
            </div>
            {sentence.code ? <pre class="sentence-text">{sentence.text}</pre> : <p class="sentence-text">{sentence.text}</p>}
            {!sentence.code && sentence.speech !== '' && sentence.speech !== sentence.text && (
              <p class="sentence-speech muted" title={t('speechHint')}>
                {t('spoken')} {sentence.speech}
              </p>
            )}
          </li>
        ))}
        {(turn.state === 'waiting' || turn.state === 'streaming') && (
          <li class="sentence-card pending" aria-label={t(turn.state)}>
            <span class="dots" />
          </li>
        )}
      </ol>
      <div class="speech-stats row muted" data-testid="speech-stats">
        <span>
          {t(turn.state)}
        </span>
        <span data-testid="first-sentence" title={stats?.firstSentenceMs != null ? t('serverFirstSentence', { ms: formatMs(stats.firstSentenceMs) }) : undefined}>
          {t('firstSentence')} <b>{formatMs(firstSentence)}</b>
        </span>
        {stats && (
          <>
            <span>
              {t('firstToken')} {formatMs(stats.firstTokenMs)}
            </span>
            <span>
              {t('duration')} {formatMs(stats.durationMs)}
            </span>
            <span>
              {t('tokens', { n: stats.completionTokens ?? '—' })}
            </span>
            <span>{formatRate(tokensPerSecond(stats))} tok/s</span>
          </>
        )}
      </div>
      <ErrorLine error={turn.error} />
    </article>
  );
}
