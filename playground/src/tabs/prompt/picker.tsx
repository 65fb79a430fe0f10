/**
 * The prompt toolbar: a picker of saved prompts grouped by sub-folder, and new / save / save as /
 * delete. Loading or starting a new prompt over unsaved changes asks first.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { loadPrompt } from '../../components/catalog';
import { ErrorLine, useAction, type Loaded } from '../../components/status';
import { useT } from './messages';
import { deletePrompt, savePrompt, type Options } from './run';

interface PickerProps {
  names: Loaded<string[]>;
  current: string;
  dirty: boolean;
  instruction: string;
  options: Options;
  onLoaded(name: string, instruction: string, options: Options): void;
  onNew(): void;
  onSaved(name: string): void;
  onDeleted(): void;
  /** Shown at the end of the toolbar (the test-mode switch). */
  extra?: ComponentChildren;
}

/** Names grouped by folder (`a/b/c` is in `a/b`); top-level names first. */
function byFolder(names: string[]): Array<[string, string[]]> {
  const groups = new Map<string, string[]>();
  for (const name of [...names].sort()) {
    const cut = name.lastIndexOf('/');
    const folder = cut < 0 ? '' : name.slice(0, cut);
    groups.set(folder, [...(groups.get(folder) ?? []), name]);
  }
  return [...groups].sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)));
}

export function PromptPicker(props: PickerProps) {
  const t = useT();
  const { names, current, dirty } = props;
  const { busy, error, run } = useAction();
  const [notice, setNotice] = useState('');
  const [saveAs, setSaveAs] = useState<string>();
  const saved = current !== '' && (names.data ?? []).includes(current);

  async function act(action: () => Promise<void>) {
    setNotice('');
    await run(action);
  }

  const load = (name: string) =>
    act(async () => {
      if (dirty && !confirm(t('confirmDiscard'))) return;
      const stored = await loadPrompt(name);
      props.onLoaded(name, stored.instruction, stored.options);
    });

  const save = (name: string) =>
    act(async () => {
      await savePrompt(name, props.instruction, props.options);
      props.onSaved(name);
      setSaveAs(undefined);
      setNotice(t('saved', { name }));
      names.reload();
    });

  const remove = () =>
    act(async () => {
      if (!confirm(t('confirmDelete', { name: current }))) return;
      await deletePrompt(current);
      props.onDeleted();
      setNotice(t('deleted', { name: current }));
      names.reload();
    });

  return (
    <div class="prompt-toolbar">
      <div class="row">
        <select aria-label={t('promptPicker')} data-testid="prompt-picker" value={saved ? current : ''} disabled={busy} onChange={(e) => {
            // The picker shows the loaded prompt until a load succeeds (it may be refused or fail).
            const name = e.currentTarget.value;
            e.currentTarget.value = saved ? current : '';
            if (name) void load(name);
          }}
        >
          <option value="">{t('pickPrompt')}</option>
          {byFolder(names.data ?? []).map(([folder, list]) =>
            folder === '' ? (
              list.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))
            ) : (
              <optgroup key={folder} label={`${folder}/`}>
                {list.map((name) => (
                  <option key={name} value={name}>
                    {name.slice(folder.length + 1)}
                  </option>
                ))}
              </optgroup>
            ),
          )}
        </select>
        <span class="prompt-name" data-testid="prompt-name">
          {current || t('unsaved')}
          {dirty && (
            <span class="dirty" title={t('unsaved')} aria-label={t('unsaved')}>
              {' ●'}
            </span>
          )}
        </span>
        <button type="button" data-testid="new" disabled={busy} onClick={() => (!dirty || confirm(t('confirmDiscard'))) && props.onNew()}>
          {t('newPrompt')}
        </button>
        <button type="button" data-testid="save" disabled={busy || (current !== '' && !dirty)} onClick={() => (current ? void save(current) : setSaveAs(''))}>
          {t('save')}
        </button>
        <button type="button" data-testid="save-as" disabled={busy} onClick={() => setSaveAs(current)}>
          {t('saveAs')}
        </button>
        <button type="button" data-testid="delete" disabled={busy || !saved} onClick={() => void remove()}>
          {t('delete')}
        </button>
        <span class="spacer" />
        {props.extra}
      </div>
      {saveAs !== undefined && (
        <form
          class="row prompt-save-as"
          onSubmit={(e) => {
            e.preventDefault();
            if (saveAs.trim()) void save(saveAs.trim());
          }}
        >
          <input type="text" data-testid="save-as-name" aria-label={t('saveAsName')} placeholder={t('saveAsName')} value={saveAs} autoFocus onInput={(e) => setSaveAs(e.currentTarget.value)} />
          <button type="submit" class="primary" data-testid="save-as-ok" disabled={busy || !saveAs.trim()}>
            {t('saveAsOk')}
          </button>
          <button type="button" onClick={() => setSaveAs(undefined)}>
            {t('cancel')}
          </button>
        </form>
      )}
      {notice && (
        <p class="ok" role="status">
          {notice}
        </p>
      )}
      <ErrorLine error={error ?? names.error} />
    </div>
  );
}
