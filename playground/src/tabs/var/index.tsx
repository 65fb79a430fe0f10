/**
 * The var tab: the variables of the data folder (`vars/<key>.txt`, read by `{var.key}`), a value
 * editor, new / save / delete. Values are stored as raw text; a value that happens to be JSON
 * can be checked and formatted before saving.
 */
import { ConfirmAction } from '../../components/confirm';
import { CopyButton } from '../../components/copy';
import { usePageKeydown } from '../../components/keys';
import { useMemo, useState } from 'preact/hooks';
import { del, get, put } from '../../api';
import { ErrorLine, useAction, useLoad } from '../../components/status';
import { defineMessages } from '../../i18n';
import './var.css';

const useT = defineMessages({
  en: {
    keys: 'Variables',
    filter: 'Filter',
    none: 'No variables yet. Create one with “New”.',
    noMatch: 'No variable matches.',
    newVar: 'New',
    key: 'Key',
    keyHint: 'A file name: letters, digits, - and _ are safest. Used as {var.key} in instructions.',
    value: 'Value',
    save: 'Save',
    saveHint: 'Ctrl+S',
    delete: 'Delete',
    confirmDelete: 'Delete {key}?',
    revert: 'Revert',
    saved: 'Saved.',
    deleted: 'Deleted {key}.',
    unsaved: 'Unsaved changes',
    stored: 'Stored value ({chars} characters)',
    notStored: 'Not saved yet',
    emptyValue: '(empty)',
    json: 'Valid JSON',
    formatJson: 'Format JSON',
    use: 'In an instruction',
    chars: '{chars} chars',
    loading: 'Loading…',
    endsWithNewline: 'ends with a line break',
    discard: 'Discard the unsaved changes?',
    badKey: 'Expected a file name for the key but received "{key}"',
  },
  ja: {
    keys: '変数',
    filter: '絞り込み',
    none: '変数はまだありません。「新規」で作成します。',
    noMatch: '一致する変数がありません。',
    newVar: '新規',
    key: 'キー',
    keyHint: 'ファイル名です。英数字・-・_ が安全です。命令文では {var.key} で使います。',
    value: '値',
    save: '保存',
    saveHint: 'Ctrl+S',
    delete: '削除',
    confirmDelete: '{key} を削除しますか?',
    revert: '元に戻す',
    saved: '保存しました。',
    deleted: '{key} を削除しました。',
    unsaved: '未保存の変更があります',
    stored: '保存されている値({chars} 文字)',
    notStored: 'まだ保存されていません',
    emptyValue: '(空)',
    json: 'JSONとして有効',
    formatJson: 'JSONを整形',
    use: '命令文での使い方',
    chars: '{chars} 文字',
    loading: '読み込み中…',
    endsWithNewline: '末尾に改行があります',
    discard: '保存していない変更を破棄しますか?',
    badKey: 'キーにはファイル名を指定してください("{key}" は使えません)',
  },
});

interface VarEntry {
  key: string;
  value: string;
}

/** How an instruction reads the key: `var.key` for identifiers, `var['key']` for the rest. */
export function varExpression(key: string): string {
  return /^[\p{L}_][\p{L}\p{N}_]*$/u.test(key) ? `{var.${key}}` : `{var['${key.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}']}`;
}

function isJson(text: string): boolean {
  const trimmed = text.trim();
  if (!/^[[{"]/.test(trimmed)) return false;
  try {
    JSON.parse(trimmed);
    return true;
  } catch {
    return false;
  }
}

export function VarTab() {
  const t = useT();
  const list = useLoad(async (signal) => (await get<{ vars: VarEntry[] }>('/api/vars', signal)).vars);
  const [filter, setFilter] = useState('');
  // The key being edited: null = none selected, '' key with isNew = a new variable.
  const [selected, setSelected] = useState<string | null>(null);
  const [isNew, setIsNew] = useState(false);
  const [key, setKey] = useState('');
  const [value, setValue] = useState('');
  const { busy, error, setError, run } = useAction();
  const [notice, setNotice] = useState<{ key: 'saved' | 'deleted'; name: string } | undefined>();

  const stored = selected === null ? undefined : list.data?.find((v) => v.key === selected);
  const dirty = isNew ? key !== '' || value !== '' : stored !== undefined && value !== stored.value;
  const shown = useMemo(() => (list.data ?? []).filter((v) => v.key.toLowerCase().includes(filter.toLowerCase())), [list.data, filter]);

  /** True when there is nothing unsaved to lose, or the user agrees to drop it. */
  function mayLeave(): boolean {
    return !dirty || confirm(t('discard'));
  }

  function pick(entry: VarEntry) {
    setSelected(entry.key);
    setIsNew(false);
    setKey(entry.key);
    setValue(entry.value);
    setError(undefined);
    setNotice(undefined);
  }

  function startNew() {
    setSelected(null);
    setIsNew(true);
    setKey('');
    setValue('');
    setError(undefined);
    setNotice(undefined);
  }

  async function save() {
    const name = isNew ? key.trim() : selected;
    if (!name || busy) return;
    // A URL cannot carry these as a path segment (the browser resolves them), so the server would never see them.
    if (name === '.' || name === '..') {
      setError(new Error(t('badKey', { key: name })));
      return;
    }
    await run(async () => {
      await put(`/api/vars/${encodeURIComponent(name)}`, { value });
      // Read it back: the editor then shows the value exactly as the store keeps it.
      const back = await get<VarEntry>(`/api/vars/${encodeURIComponent(name)}`);
      setSelected(name);
      setIsNew(false);
      setKey(name);
      setValue(back.value);
      setNotice({ key: 'saved', name });
      list.reload();
    });
  }

  async function remove() {
    if (!selected || busy) return;
    await run(async () => {
      await del(`/api/vars/${encodeURIComponent(selected)}`);
      setNotice({ key: 'deleted', name: selected });
      setSelected(null);
      setKey('');
      setValue('');
      list.reload();
    });
  }

  // Ctrl+S / Cmd+S saves while the tab is open.
  usePageKeydown((e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
      e.preventDefault();
      if (dirty) void save();
    }
  });

  const editing = isNew || selected !== null;
  const json = editing && isJson(value);

  return (
    <div class="var-tab side-layout">
      <section class="card var-list" aria-label={t('keys')}>
        <div class="row var-list-head">
          <h2>{t('keys')}</h2>
          <button type="button" class="primary" data-testid="var-new" onClick={() => mayLeave() && startNew()}>
            {t('newVar')}
          </button>
        </div>
        <input type="search" placeholder={t('filter')} aria-label={t('filter')} value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
        <ErrorLine error={list.error} />
        {list.loading && !list.data && <p class="muted">{t('loading')}</p>}
        {list.data && list.data.length === 0 && <p class="muted">{t('none')}</p>}
        {list.data && list.data.length > 0 && shown.length === 0 && <p class="muted">{t('noMatch')}</p>}
        <ul class="side-list var-keys" role="listbox" aria-label={t('keys')}>
          {shown.map((entry) => (
            <li key={entry.key}>
              <button
                type="button"
                role="option"
                aria-selected={entry.key === selected}
                class={entry.key === selected ? 'side-item active' : 'side-item'}
                data-testid="var-key"
                data-key={entry.key}
                onClick={() => entry.key !== selected && mayLeave() && pick(entry)}
              >
                <span class="mono">{entry.key}</span>
                <span class="muted var-preview">{entry.value === '' ? t('emptyValue') : entry.value.slice(0, 80)}</span>
              </button>
            </li>
          ))}
        </ul>
      </section>

      <section class="card var-editor" aria-label={t('value')}>
        {!editing && <p class="muted">{list.data?.length ? t('keyHint') : t('none')}</p>}
        {editing && (
          <>
            <label class="var-field">
              <span>{t('key')}</span>
              <input
                class="mono"
                data-testid="var-key-input"
                value={key}
                readOnly={!isNew}
                autoFocus={isNew}
                onInput={(e) => setKey(e.currentTarget.value)}
                title={t('keyHint')}
              />
            </label>
            <label class="var-field var-value">
              <span>
                {t('value')} <span class="muted">{t('chars', { chars: value.length })}</span>
                {json && <span class="var-badge ok">{t('json')}</span>}
              </span>
              <textarea data-testid="var-value" rows={12} spellcheck={false} value={value} onInput={(e) => setValue(e.currentTarget.value)} />
            </label>
            <div class="row">
              <button type="button" class="primary" data-testid="var-save" disabled={busy || !dirty || (isNew && key.trim() === '')} title={t('saveHint')} onClick={() => void save()}>
                {t('save')}
              </button>
              {!isNew && (
                <button type="button" disabled={busy || !dirty} onClick={() => stored && pick(stored)}>
                  {t('revert')}
                </button>
              )}
              {json && (
                <button type="button" onClick={() => setValue(JSON.stringify(JSON.parse(value), null, 2))}>
                  {t('formatJson')}
                </button>
              )}
              <span class="spacer" />
              {!isNew && (
                <ConfirmAction
                  key={selected}
                  testId="var-delete"
                  label={t('delete')}
                  question={t('confirmDelete', { key: selected ?? '' })}
                  disabled={busy}
                  onConfirm={() => void remove()}
                />
              )}
            </div>
            {dirty && <p class="muted">{t('unsaved')}</p>}
            <ErrorLine error={error} />
            {!isNew && stored && (
              <div class="var-stored">
                <h3>
                  {t('stored', { chars: stored.value.length })}
                  {/\n$/.test(stored.value) && <span class="muted"> · {t('endsWithNewline')}</span>}
                </h3>
                <pre class="inset var-stored-value" data-testid="var-stored">{stored.value === '' ? t('emptyValue') : stored.value}</pre>
                <div class="row">
                  <span class="muted">{t('use')}</span>
                  <code class="mono" data-testid="var-expression">{varExpression(stored.key)}</code>
                  <CopyButton text={varExpression(stored.key)} />
                </div>
              </div>
            )}
            {isNew && <p class="muted">{t('notStored')}</p>}
          </>
        )}
        {notice && !error && (
          <p class="ok" role="status">
            {t(notice.key, { key: notice.name })}
          </p>
        )}
      </section>
    </div>
  );
}
