/**
 * The prompt tab: pick, edit, save and run a prompt. The draft (name, instruction, options, input)
 * lives in this browser's storage, so nothing typed is lost on reload; Run streams the output from
 * POST /api/prompt/run and shows the timings and the detail; Stop closes the stream, which stops
 * the generation on the server. Chat mode keeps a conversation with the prompt as the persona.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, isAbort } from '../../api';
import { usePromptNames } from '../../components/catalog';
import { ErrorLine, useLoad } from '../../components/status';
import { useStored } from '../../components/stored';
import { InstructionEditor, type CompletionLists } from '../../editor';
import { RunDetailView, RunStatsLine } from './detail';
import { useT } from './messages';
import { OptionsForm } from './options-form';
import { PromptPicker } from './picker';
import { loadTestMode, runPrompt, setTestMode, type ChatTurn, type Options, type RunDetail, type RunDone } from './run';
import './prompt.css';

interface Draft {
  /** The saved prompt this draft was loaded from or saved as; '' for a new one. */
  name: string;
  instruction: string;
  options: Options;
  input: string;
  chat: boolean;
  /** The instruction and options as last loaded or saved (JSON), to tell unsaved changes. */
  baseline: string;
}

const snapshot = (instruction: string, options: Options) => JSON.stringify({ instruction, options });
const EMPTY: Draft = { name: '', instruction: '', options: {}, input: '', chat: false, baseline: snapshot('', {}) };

interface RunState {
  /** Set while the run streams. */
  controller?: AbortController;
  input: string;
  text: string;
  detail?: RunDetail;
  done?: RunDone;
  error?: unknown;
  stopped?: boolean;
}

/** Names the editor completes: var keys, prompt names, RAG collections (each list optional). */
function useCompletionLists(prompts: string[] | undefined): CompletionLists {
  const vars = useLoad(async (signal) => (await get<{ vars: { key: string }[] }>('/api/vars', signal)).vars.map((v) => v.key));
  const collections = useLoad(async (signal) => {
    // GET /api/rag answers without an error when RAG is not set up (a failed request would log one).
    const listed = (await get<{ collections: unknown }>('/api/rag', signal)).collections;
    if (!Array.isArray(listed)) return [];
    return listed.map((c: unknown) => (typeof c === 'string' ? c : ((c as { name?: string; dir?: string }).name ?? (c as { dir?: string }).dir ?? ''))).filter(Boolean);
  });
  return { vars: vars.data, prompts, collections: collections.data };
}

/** Whether earlier turns reach the model: messages mode without a text template. */
function sendsHistory(options: Options): boolean {
  const template = options.inst_template ?? options.template;
  return options.is_messages === true && (typeof template !== 'string' || template === '');
}

export function PromptTab() {
  const t = useT();
  const [draft, setDraft] = useStored<Draft>('akachat.prompt.draft', EMPTY);
  const [chat, setChat] = useStored<ChatTurn[]>('akachat.prompt.chat', []);
  const [run, setRun] = useState<RunState>();
  const names = usePromptNames();
  const completions = useCompletionLists(names.data);
  const running = useRef(false);
  const dirty = snapshot(draft.instruction, draft.options) !== draft.baseline;

  const update = (change: Partial<Draft>) => setDraft((old) => ({ ...old, ...change }));

  async function start() {
    if (running.current) return;
    running.current = true;
    const controller = new AbortController();
    const input = draft.input;
    const history = draft.chat ? chat : [];
    setRun({ controller, input, text: '' });
    try {
      for await (const event of runPrompt({ name: draft.name, instruction: draft.instruction, options: draft.options, input, history }, controller.signal)) {
        if (event.type === 'detail') setRun((r) => r && { ...r, detail: event.detail });
        else if (event.type === 'text') setRun((r) => r && { ...r, text: r.text + event.text });
        else {
          setRun((r) => r && { ...r, text: event.done.text, done: event.done });
          if (draft.chat) {
            setChat((turns) => [...turns, { role: 'user', content: input }, { role: 'assistant', content: event.done.text }]);
            setDraft((old) => (old.input === input ? { ...old, input: '' } : old));
          }
        }
      }
    } catch (error) {
      setRun((r) => r && (isAbort(error) ? { ...r, stopped: true } : { ...r, error }));
    } finally {
      running.current = false;
      setRun((r) => r && { ...r, controller: undefined });
    }
  }

  const stop = () => run?.controller?.abort();
  // Stop the stream when the tab goes away: nothing would show its output.
  const current = useRef(run);
  current.current = run;
  useEffect(() => () => current.current?.controller?.abort(), []);

  const onKeyDown = (e: KeyboardEvent) => {
    // The editor handles its own Mod-Enter (and prevents the default).
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter' && !e.defaultPrevented) {
      e.preventDefault();
      void start();
    } else if (e.key === 'Escape' && running.current && !e.defaultPrevented) {
      stop();
    }
  };

  const isRunning = run?.controller !== undefined;
  const chatTurns = draft.chat ? chat : [];
  const pendingTurn = draft.chat && run && !run.done;

  return (
    <div class="prompt-tab" onKeyDown={onKeyDown}>
      <PromptPicker
        names={names}
        current={draft.name}
        dirty={dirty}
        instruction={draft.instruction}
        options={draft.options}
        onLoaded={(name, instruction, options) => {
          setDraft((old) => ({ ...old, name, instruction, options, baseline: snapshot(instruction, options) }));
          setRun(undefined);
        }}
        onNew={() => {
          setDraft((old) => ({ ...EMPTY, input: old.input, chat: old.chat }));
          setRun(undefined);
        }}
        onSaved={(name) => setDraft((old) => ({ ...old, name, baseline: snapshot(old.instruction, old.options) }))}
        onDeleted={() => setDraft((old) => ({ ...old, name: '', baseline: '' }))}
        extra={<TestModeSwitch />}
      />
      <div class="prompt-columns">
        <div class="prompt-main">
          <section class="card prompt-edit">
            <h2 id="prompt-instruction-label">{t('instruction')}</h2>
            <InstructionEditor value={draft.instruction} onChange={(instruction) => update({ instruction })} onRun={() => void start()} completions={completions} label={t('instruction')} />
          </section>
          <section class="card prompt-run">
            {chatTurns.length > 0 || pendingTurn ? (
              <div class="prompt-chat" data-testid="chat-log" aria-live="polite">
                {chatTurns.map((turn, index) => (
                  <div key={index} class={`bubble bubble-${turn.role}`} data-role={turn.role}>
                    <span class="who">{turn.role === 'user' ? t('you') : t('assistant')}</span>
                    <pre>{turn.content}</pre>
                  </div>
                ))}
                {pendingTurn && (
                  <>
                    <div class="bubble bubble-user" data-role="user">
                      <span class="who">{t('you')}</span>
                      <pre>{run.input}</pre>
                    </div>
                    <div class="bubble bubble-assistant pending" data-role="assistant" data-testid="output">
                      <span class="who">{t('assistant')}</span>
                      <pre>
                        {run.text}
                        {isRunning && <span class="cursor" />}
                      </pre>
                      {run.stopped && <span class="muted">{t('stopped')}</span>}
                    </div>
                  </>
                )}
              </div>
            ) : draft.chat ? (
              <p class="muted">{t('chatModeHint')}</p>
            ) : (
              (
                <div class="prompt-output" aria-live="polite">
                  <h2>{t('output')}</h2>
                  {run ? (
                    <pre class="inset prompt-pre output" data-testid="output">
                      {run.text}
                      {isRunning && <span class="cursor" />}
                    </pre>
                  ) : (
                    <p class="muted">{t('noOutput')}</p>
                  )}
                  {run?.stopped && <p class="muted">{t('stopped')}</p>}
                </div>
              )
            )}
            {run?.done && <RunStatsLine done={run.done} />}
            <ErrorLine error={run?.error} />
            <label class="prompt-input-label" for="prompt-input">
              {t('input')}
            </label>
            <textarea
              id="prompt-input"
              class="prompt-input"
              data-testid="prompt-input"
              rows={draft.chat ? 2 : 3}
              placeholder={draft.chat ? t('chatInputHint') : t('inputHint')}
              value={draft.input}
              onInput={(e) => update({ input: e.currentTarget.value })}
            />
            <div class="row prompt-actions">
              {isRunning ? (
                <button type="button" class="primary" data-testid="stop" onClick={stop} title="Esc">
                  {t('stop')}
                </button>
              ) : (
                <button type="button" class="primary" data-testid="run" onClick={() => void start()} title="Ctrl+Enter">
                  {draft.chat ? t('send') : t('run')}
                </button>
              )}
              <kbd class="muted">{isRunning ? 'Esc' : 'Ctrl+Enter'}</kbd>
              <label class="switch" title={t('chatModeHint')}>
                <input type="checkbox" data-testid="chat-mode" checked={draft.chat} onChange={(e) => update({ chat: e.currentTarget.checked })} />
                {t('chatMode')}
              </label>
              {draft.chat && (
                <button type="button" data-testid="clear-chat" disabled={chat.length === 0 || isRunning} onClick={() => setChat([])}>
                  {t('clearChat')}
                </button>
              )}
            </div>
            {draft.chat && !sendsHistory(draft.options) && <p class="muted small">{t('chatNeedsMessages')}</p>}
          </section>
          <RunDetailView detail={run?.detail} done={run?.done} running={isRunning} />
        </div>
        <div class="prompt-side">
          <OptionsForm options={draft.options} onChange={(options) => update({ options })} />
        </div>
      </div>
    </div>
  );
}

/** The `is_test` setting, switchable while editing. */
function TestModeSwitch() {
  const t = useT();
  const loaded = useLoad(loadTestMode);
  const [on, setOn] = useState<boolean>();
  const [error, setError] = useState<unknown>();
  const value = on ?? loaded.data ?? false;
  return (
    <span class="prompt-test-mode">
      <label class="switch" title={t('testModeHint')}>
        <input
          type="checkbox"
          data-testid="test-mode"
          checked={value}
          disabled={loaded.loading && loaded.data === undefined}
          onChange={async (e) => {
            const wanted = e.currentTarget.checked;
            setError(undefined);
            try {
              setOn(await setTestMode(wanted));
            } catch (err) {
              setError(err);
              setOn(value);
            }
          }}
        />
        {t('testMode')}
      </label>
      <ErrorLine error={error ?? loaded.error} />
    </span>
  );
}
