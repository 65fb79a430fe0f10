/**
 * The settings tab: test mode (`is_test`), the models this server lists (load / unload, the
 * default model), `hf:` pulls with progress, and the settings of config.json with secrets masked.
 * What the trust rule keeps with the owner (API keys, folders, downloads) is shown read-only with
 * how the owner changes it, unless the owner started the server with --allow-settings / --allow-pull.
 */
import { useEffect, useState } from 'preact/hooks';
import { events, get, put, post } from '../../api';
import { CopyButton } from '../../components/copy';
import { ErrorLine, ProgressBar, useLoad } from '../../components/status';
import { defineMessages } from '../../i18n';
import { KeysCard } from './keys';
import { useSettingsT } from './messages';
import './settings.css';

export interface ModelsState {
  default_model: string | null;
  models: { name: string; kind: 'model' | 'preset'; size?: number; loaded: boolean }[];
  loaded: string[];
  models_dir: { name: string; count: number } | null;
  allow_pull: boolean;
  allow_settings: boolean;
  caller_settings: string[];
  settings_environment: Record<string, string>;
}

export type Settings = Record<string, unknown>;

export function SettingsTab() {
  const t = useSettingsT();
  const state = useLoad((signal) => get<ModelsState>('/api/models/state', signal));
  const settings = useLoad(async (signal) => (await get<{ settings: Settings }>('/api/settings', signal)).settings);
  return (
    <div class="settings-tab">
      <div class="settings-col">
        <TestModeCard settings={settings.data} onSaved={settings.reload} error={settings.error} />
        <ModelsCard state={state.data} error={state.error} loading={state.loading} onChange={state.reload} />
      </div>
      <div class="settings-col">
        <PullCard allowed={state.data?.allow_pull} onPulled={state.reload} />
        <KeysCard settings={settings.data} state={state.data} onSaved={settings.reload} />
      </div>
      <p class="muted settings-foot">{t('restartNote')}</p>
    </div>
  );
}

function TestModeCard({ settings, onSaved, error: loadError }: { settings?: Settings; onSaved: () => void; error: unknown }) {
  const t = useSettingsT();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  // The switch shows the choice at once; the stored value replaces it when the settings reload.
  const [chosen, setChosen] = useState<boolean>();
  const stored = settings?.is_test === true;
  useEffect(() => setChosen(undefined), [stored]);
  const on = chosen ?? stored;
  async function toggle(value: boolean) {
    setBusy(true);
    setError(undefined);
    setChosen(value);
    try {
      await put('/api/settings', { is_test: value });
      onSaved();
    } catch (e) {
      setChosen(undefined);
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section class="card settings-card" aria-labelledby="settings-test">
      <h2 id="settings-test">{t('testMode')}</h2>
      <label class="settings-switch">
        <input type="checkbox" role="switch" data-testid="is-test" checked={on} disabled={busy || settings === undefined} onChange={(e) => void toggle(e.currentTarget.checked)} />
        <span>{on ? t('testOn') : t('testOff')}</span>
      </label>
      <p class="muted">{t('testHint')}</p>
      <ErrorLine error={error ?? loadError} />
    </section>
  );
}

function formatSize(bytes?: number): string {
  if (bytes === undefined) return '';
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

function ModelsCard({ state, error: loadError, loading, onChange }: { state?: ModelsState; error: unknown; loading: boolean; onChange: () => void }) {
  const t = useSettingsT();
  // The model an action runs on now ('' = none), so only its button shows the wait.
  const [busy, setBusy] = useState('');
  const [error, setError] = useState<unknown>();
  async function act(model: string, action: () => Promise<unknown>) {
    setBusy(model);
    setError(undefined);
    try {
      await action();
      onChange();
    } catch (e) {
      setError(e);
    } finally {
      setBusy('');
    }
  }
  const files = state?.models.filter((m) => m.kind === 'model') ?? [];
  return (
    <section class="card settings-card" aria-labelledby="settings-models">
      <h2 id="settings-models">{t('models')}</h2>
      <div class="row">
        <label for="settings-default">{t('defaultModel')}</label>
        <select
          id="settings-default"
          data-testid="default-model"
          value={state?.default_model ?? ''}
          disabled={!state || busy !== '' || files.length === 0}
          onChange={(e) => {
            const model = e.currentTarget.value;
            if (model) void act(model, () => put('/api/models/default', { model }));
          }}
        >
          {!state?.default_model && <option value="">{t('noDefault')}</option>}
          {files.map((m) => (
            <option key={m.name} value={m.name}>
              {m.name}
            </option>
          ))}
        </select>
      </div>
      <p class="muted">{t('defaultHint')}</p>
      {state && state.models.length === 0 && <p class="muted">{t('noModels')}</p>}
      {state && state.models.length > 0 && (
        <table class="settings-models" data-testid="models-table">
          <thead>
            <tr>
              <th>{t('name')}</th>
              <th>{t('kind')}</th>
              <th>{t('size')}</th>
              <th>{t('status')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {state.models.map((m) => (
              <tr key={m.name} data-model={m.name} data-loaded={m.loaded ? 'true' : 'false'}>
                <td class="mono">
                  {m.name}
                  {m.name === state.default_model && <span class="settings-badge">{t('default')}</span>}
                </td>
                <td>{m.kind === 'preset' ? t('preset') : t('file')}</td>
                <td class="muted">{formatSize(m.size)}</td>
                <td>{busy === m.name ? t('working') : m.loaded ? <span class="ok">● {t('loaded')}</span> : <span class="muted">{t('notLoaded')}</span>}</td>
                <td>
                  {m.loaded ? (
                    <button type="button" data-action="unload" disabled={busy !== ''} onClick={() => void act(m.name, () => post('/api/models/unload', { model: m.name }))}>
                      {t('unload')}
                    </button>
                  ) : (
                    <button type="button" data-action="load" disabled={busy !== ''} onClick={() => void act(m.name, () => post('/api/models/load', { model: m.name }))}>
                      {t('load')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {busy !== '' && <ProgressBar label={t('working')} />}
      <ErrorLine error={error ?? loadError} />
      {state && (
        <p class="muted" data-testid="models-dir">
          {state.models_dir ? t('modelsDir', { name: state.models_dir.name, count: state.models_dir.count }) : t('noModelsDir')}
        </p>
      )}
      {loading && !state && <p class="muted">{t('loading')}</p>}
    </section>
  );
}

const usePullT = defineMessages({
  en: {
    pull: 'Download from Hugging Face',
    reference: 'hf: reference',
    start: 'Pull',
    stop: 'Stop',
    pulled: 'Downloaded and listed as preset “{name}”.',
    off: 'Downloads are the server owner’s choice and are off on this server. On the server’s machine run:',
    offAfter: 'then list the model: start the server with --model hf:… or add a preset to models.json. To pull from this page, start the server with --allow-pull.',
    onHint: 'The file goes into the server’s download cache and is listed as a preset named after it. An interrupted download resumes.',
    connecting: 'Connecting…',
  },
  ja: {
    pull: 'Hugging Face からダウンロード',
    reference: 'hf: 参照',
    start: 'ダウンロード',
    stop: '停止',
    pulled: 'ダウンロードし、プリセット「{name}」として一覧に追加しました。',
    off: 'ダウンロードはサーバー所有者が決めることで、このサーバーでは無効です。サーバーのマシンで次を実行してください:',
    offAfter: 'その後モデルを一覧に加えます: --model hf:… でサーバーを起動するか、models.json にプリセットを追加します。このページからダウンロードするには --allow-pull を付けてサーバーを起動します。',
    onHint: 'ファイルはサーバーのダウンロードキャッシュに保存され、ファイル名のプリセットとして一覧に加わります。中断したダウンロードは再開されます。',
    connecting: '接続中…',
  },
});

function PullCard({ allowed, onPulled }: { allowed?: boolean; onPulled: () => void }) {
  const t = usePullT();
  const [ref, setRef] = useState(() => localStorage.getItem('akachat.settings.pull') ?? 'hf:');
  const [progress, setProgress] = useState<{ file: string; downloaded: number; total: number | null } | null>(null);
  const [controller, setController] = useState<AbortController>();
  const [done, setDone] = useState('');
  const [error, setError] = useState<unknown>();
  const valid = /^hf:[\w.-]+\/[\w.@-]+(\/.+\.gguf|:\w+)$/i.test(ref.trim());
  async function pull() {
    const abort = new AbortController();
    setController(abort);
    setError(undefined);
    setDone('');
    setProgress({ file: '', downloaded: 0, total: null });
    localStorage.setItem('akachat.settings.pull', ref.trim());
    try {
      for await (const event of events('/api/models/pull', { model: ref.trim() }, abort.signal)) {
        const data = JSON.parse(event.data) as { type: string; file?: string; downloaded?: number; total?: number | null; name?: string; message?: string };
        if (data.type === 'progress') setProgress({ file: data.file!, downloaded: data.downloaded!, total: data.total ?? null });
        else if (data.type === 'done') {
          setDone(data.name!);
          onPulled();
        } else if (data.type === 'error') setError(new Error(data.message));
      }
    } catch (e) {
      setError(e);
    } finally {
      setController(undefined);
      setProgress(null);
    }
  }
  const command = `npx akachat pull ${valid ? ref.trim() : 'hf:owner/repo:Q4_K_M'}`;
  return (
    <section class="card settings-card" aria-labelledby="settings-pull" data-testid="pull-card">
      <h2 id="settings-pull">{t('pull')}</h2>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (allowed && valid && !controller) void pull();
        }}
      >
        <input class="mono settings-grow" aria-label={t('reference')} data-testid="pull-ref" placeholder="hf:owner/repo:Q4_K_M" value={ref} onInput={(e) => setRef(e.currentTarget.value)} />
        {allowed && (controller ? (
          <button type="button" onClick={() => controller.abort()}>
            {t('stop')}
          </button>
        ) : (
          <button type="submit" class="primary" data-testid="pull-start" disabled={!valid}>
            {t('start')}
          </button>
        ))}
      </form>
      {allowed === false && (
        <div data-testid="pull-off">
          <p class="muted">{t('off')}</p>
          <div class="row inset settings-command">
            <code class="mono" data-testid="pull-command">{command}</code>
            <CopyButton text={command} />
          </div>
          <p class="muted">{t('offAfter')}</p>
        </div>
      )}
      {allowed && <p class="muted">{t('onHint')}</p>}
      {progress && (
        <ProgressBar
          value={progress.total ? progress.downloaded / progress.total : undefined}
          label={progress.file ? `${progress.file} ${formatSize(progress.downloaded)}${progress.total ? ` / ${formatSize(progress.total)}` : ''}` : t('connecting')}
        />
      )}
      {done && (
        <p class="ok" role="status" data-testid="pull-done">
          {t('pulled', { name: done })}
        </p>
      )}
      <ErrorLine error={error} />
    </section>
  );
}
