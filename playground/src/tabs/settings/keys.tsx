/**
 * The settings of config.json other than is_test, secrets masked as the server sends them. They
 * are the owner's (API keys of remote services, folders, endpoints): read-only here with how the
 * owner sets them, editable only when the server was started with --allow-settings.
 */
import { useState } from 'preact/hooks';
import { put } from '../../api';
import { ErrorLine, useAction } from '../../components/status';
import type { ModelsState, Settings } from './index';
import { useSettingsT } from './messages';

/** Keys the library reads from config.json, shown even when unset (HF_TOKEN is read from the environment only). */
const KNOWN_KEYS = ['openai_key'];

function shown(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function KeysCard({ settings, state, onSaved }: { settings?: Settings; state?: ModelsState; onSaved: () => void }) {
  const t = useSettingsT();
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  const [newKey, setNewKey] = useState('');
  const [newValue, setNewValue] = useState('');
  const { busy, error, run } = useAction();
  const [notice, setNotice] = useState('');
  if (!settings || !state) return null;
  const editable = state.allow_settings;
  const keys = [...new Set([...KNOWN_KEYS, ...Object.keys(settings)])].filter((key) => !state.caller_settings.includes(key));

  async function save(changes: Record<string, unknown>) {
    setNotice('');
    await run(async () => {
      await put('/api/settings', changes);
      setDrafts({});
      setNewKey('');
      setNewValue('');
      setNotice(t('saved'));
      onSaved();
    });
  }

  return (
    <section class="card settings-card" aria-labelledby="settings-keys" data-testid="keys-card" data-editable={editable ? 'true' : 'false'}>
      <h2 id="settings-keys">{t('keys')}</h2>
      <p class="muted">{editable ? t('editable') : t('readOnly')}</p>
      <table class="settings-keys">
        <thead>
          <tr>
            <th>{t('key')}</th>
            <th>{t('value')}</th>
            <th>{editable ? '' : t('source')}</th>
          </tr>
        </thead>
        <tbody>
          {keys.map((key) => {
            const set = Object.hasOwn(settings, key) && settings[key] !== '';
            const variable = state.settings_environment[key];
            return (
              <tr key={key} data-setting={key}>
                <td class="mono">{key}</td>
                <td class="mono">{set ? shown(settings[key]) : <span class="muted">{t('notSet')}</span>}</td>
                <td>
                  {editable ? (
                    <form
                      class="row"
                      onSubmit={(e) => {
                        e.preventDefault();
                        if (drafts[key]) void save({ [key]: drafts[key] });
                      }}
                    >
                      <input type="password" autocomplete="off" aria-label={`${key}: ${t('newValue')}`} placeholder={t('newValue')} value={drafts[key] ?? ''} onInput={(e) => setDrafts({ ...drafts, [key]: e.currentTarget.value })} />
                      <button type="submit" disabled={busy || !drafts[key]}>
                        {t('save')}
                      </button>
                      {set && (
                        <button type="button" disabled={busy} onClick={() => void save({ [key]: null })}>
                          {t('remove')}
                        </button>
                      )}
                    </form>
                  ) : (
                    <span class="muted mono">{variable ? t('envOr', { variable }) : t('configFile')}</span>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {editable && (
        <form
          class="row settings-add"
          onSubmit={(e) => {
            e.preventDefault();
            if (newKey.trim() && newValue) void save({ [newKey.trim()]: newValue });
          }}
        >
          <input class="mono" aria-label={t('addKey')} placeholder="my_service_key" value={newKey} onInput={(e) => setNewKey(e.currentTarget.value)} />
          <input type="password" autocomplete="off" aria-label={t('newValue')} placeholder={t('newValue')} value={newValue} onInput={(e) => setNewValue(e.currentTarget.value)} />
          <button type="submit" disabled={busy || !newKey.trim() || !newValue}>
            {t('addKey')}
          </button>
        </form>
      )}
      {notice && <p class="ok" role="status">{notice}</p>}
      <ErrorLine error={error} />
    </section>
  );
}
