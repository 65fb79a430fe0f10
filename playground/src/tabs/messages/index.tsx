/**
 * The messages tab: the chat log (`log/messages.jsonl`, read by `msg()` / `msgcount()`) as a
 * table and as a raw JSONL editor that checks every line as you type, append one message,
 * clear the log.
 */
import { ConfirmAction } from '../../components/confirm';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { del, get, post, put } from '../../api';
import { ErrorLine, useAction, useLoad } from '../../components/status';
import { defineMessages } from '../../i18n';
import './messages.css';

const ROLES = ['user', 'assistant', 'system', 'tool'] as const;

const useT = defineMessages({
  en: {
    table: 'Table',
    jsonl: 'Raw JSONL',
    count: '{count} messages',
    empty: 'The log is empty. Append a message below, or paste JSONL in the raw editor.',
    role: 'Role',
    content: 'Content',
    reload: 'Reload',
    append: 'Append',
    appendHint: 'Ctrl+Enter',
    newMessage: 'New message',
    contentPlaceholder: 'Message text…',
    clear: 'Clear log',
    confirmClear: 'Delete all {count} messages?',
    clearConfirm: 'Clear',
    save: 'Save JSONL',
    saved: 'Saved {count} messages.',
    cleared: 'The log is cleared.',
    appended: 'Appended: {count} messages in the log.',
    revert: 'Revert',
    valid: '{count} messages, every line valid',
    badLine: 'Line {line}: {why}',
    goToLine: 'Go to line {line}',
    notJson: 'not valid JSON ({detail})',
    notObject: 'expected a {"role", "content"} object',
    badRole: 'role must be one of {roles}',
    badContent: 'content must be a string',
    unsaved: 'Unsaved changes in the editor',
    loading: 'Loading…',
    used: 'Read by {msg} and {count} in instructions.',
  },
  ja: {
    table: '表',
    jsonl: 'JSONL(生データ)',
    count: '{count} 件',
    empty: 'ログは空です。下でメッセージを追加するか、JSONL エディタに貼り付けてください。',
    role: 'ロール',
    content: '内容',
    reload: '再読み込み',
    append: '追加',
    appendHint: 'Ctrl+Enter',
    newMessage: '新しいメッセージ',
    contentPlaceholder: 'メッセージ本文…',
    clear: 'ログを消去',
    confirmClear: '{count} 件のメッセージをすべて削除しますか?',
    clearConfirm: '消去',
    save: 'JSONL を保存',
    saved: '{count} 件を保存しました。',
    cleared: 'ログを消去しました。',
    appended: '追加しました(ログは {count} 件)。',
    revert: '元に戻す',
    valid: '{count} 件、すべての行が有効です',
    badLine: '{line} 行目: {why}',
    goToLine: '{line} 行目へ移動',
    notJson: 'JSON として不正です({detail})',
    notObject: '{"role", "content"} のオブジェクトが必要です',
    badRole: 'role は {roles} のいずれかです',
    badContent: 'content は文字列です',
    unsaved: 'エディタに未保存の変更があります',
    loading: '読み込み中…',
    used: '命令文の {msg} と {count} が読みます。',
  },
});

interface Message {
  role: string;
  content: string;
}

/** A message under the tab, kept as a key so that it follows a language switch. */
interface Notice {
  key: 'saved' | 'cleared' | 'appended';
  values?: Record<string, number>;
}

type Problem = { line: number; why: string } | undefined;
type T = ReturnType<typeof useT>;

/** The first bad line of a JSONL log (1-based), checked as the server checks it; blank lines are skipped. */
export function firstProblem(text: string, t: T): { problem: Problem; count: number } {
  let count = 0;
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      return { problem: { line: index + 1, why: t('notJson', { detail: (err as Error).message }) }, count };
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problem: { line: index + 1, why: t('notObject') }, count };
    const record = value as Record<string, unknown>;
    if (!(ROLES as readonly unknown[]).includes(record.role)) return { problem: { line: index + 1, why: t('badRole', { roles: ROLES.join(', ') }) }, count };
    if (typeof record.content !== 'string') return { problem: { line: index + 1, why: t('badContent') }, count };
    count++;
  }
  return { problem: undefined, count };
}

export function MessagesTab() {
  const t = useT();
  const [view, setView] = useState<'table' | 'jsonl'>(() => (localStorage.getItem('akachat.messages.view') === 'jsonl' ? 'jsonl' : 'table'));
  const log = useLoad(async (signal) => (await get<{ messages: Message[] }>('/api/messages', signal)).messages);
  const { busy, error, setError, run } = useAction();
  const [notice, setNotice] = useState<Notice | undefined>();

  function show(next: 'table' | 'jsonl') {
    setView(next);
    setNotice(undefined);
    setError(undefined);
    localStorage.setItem('akachat.messages.view', next);
  }

  async function act(work: () => Promise<Notice>) {
    setNotice(undefined);
    await run(async () => {
      setNotice(await work());
      log.reload();
    });
  }

  const count = log.data?.length ?? 0;
  return (
    <div class="messages-tab">
      <div class="row messages-bar">
        <div class="segmented" role="tablist" aria-label={t('table') + ' / ' + t('jsonl')}>
          <button type="button" role="tab" aria-selected={view === 'table'} data-testid="messages-view-table" onClick={() => show('table')}>
            {t('table')}
          </button>
          <button type="button" role="tab" aria-selected={view === 'jsonl'} data-testid="messages-view-jsonl" onClick={() => show('jsonl')}>
            {t('jsonl')}
          </button>
        </div>
        <span class="muted" data-testid="messages-count">
          {t('count', { count })}
        </span>
        <span class="muted messages-used">{t('used', { msg: '{msg(n)}', count: '{msgcount()}' })}</span>
        <span class="spacer" />
        <button type="button" onClick={log.reload} disabled={log.loading}>
          {t('reload')}
        </button>
        <ConfirmAction
          testId="messages-clear"
          label={t('clear')}
          question={t('confirmClear', { count })}
          confirmLabel={t('clearConfirm')}
          disabled={busy || count === 0}
          onConfirm={() =>
            void act(async () => {
              await del('/api/messages');
              return { key: 'cleared' };
            })
          }
        />
      </div>
      <ErrorLine error={log.error} />
      {view === 'table' ? (
        <>
          <MessageTable messages={log.data} loading={log.loading} />
          <AppendForm busy={busy} onAppend={(message) => act(async () => {
            const reply = await post<{ count: number }>('/api/messages', message);
            return { key: 'appended', values: { count: reply.count } };
          })} />
        </>
      ) : (
        <JsonlEditor version={log.data} onSaved={(saved) => { setNotice({ key: 'saved', values: { count: saved } }); log.reload(); }} />
      )}
      <ErrorLine error={error} />
      {notice && !error && (
        <p class="ok" role="status">
          {t(notice.key, notice.values)}
        </p>
      )}
    </div>
  );
}

function MessageTable({ messages, loading }: { messages: Message[] | undefined; loading: boolean }) {
  const t = useT();
  const bottom = useRef<HTMLDivElement>(null);
  // The newest message is at the bottom, as in a chat: keep it in view after a change.
  useEffect(() => bottom.current?.scrollIntoView?.({ block: 'nearest' }), [messages?.length]);
  if (!messages) return <p class="muted">{loading ? t('loading') : ''}</p>;
  if (messages.length === 0) return <p class="muted card">{t('empty')}</p>;
  return (
    <div class="card messages-table-wrap">
      <table class="messages-table" data-testid="messages-table">
        <thead>
          <tr>
            <th>#</th>
            <th>{t('role')}</th>
            <th>{t('content')}</th>
          </tr>
        </thead>
        <tbody>
          {messages.map((message, index) => (
            <tr key={index} data-role={message.role}>
              <td class="muted">{index + 1}</td>
              <td>
                <span class={`role role-${message.role}`}>{message.role}</span>
              </td>
              <td>
                <pre>{message.content}</pre>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div ref={bottom} />
    </div>
  );
}

function AppendForm({ busy, onAppend }: { busy: boolean; onAppend: (message: Message) => Promise<void> }) {
  const t = useT();
  const [role, setRole] = useState<string>('user');
  const [content, setContent] = useState('');
  async function submit() {
    if (busy) return;
    await onAppend({ role, content });
    setContent('');
  }
  return (
    <form
      class="card messages-append"
      aria-label={t('newMessage')}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <select aria-label={t('role')} data-testid="messages-role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
        {ROLES.map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
      <textarea
        aria-label={t('content')}
        data-testid="messages-content"
        rows={2}
        placeholder={t('contentPlaceholder')}
        value={content}
        onInput={(e) => setContent(e.currentTarget.value)}
        onKeyDown={(e) => {
          if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
            e.preventDefault();
            void submit();
          }
        }}
      />
      <button type="submit" class="primary" data-testid="messages-append" disabled={busy} title={t('appendHint')}>
        {t('append')}
      </button>
    </form>
  );
}

/** The raw editor: loads the log's JSONL text, checks each line while typing, saves it whole. */
function JsonlEditor({ version, onSaved }: { version: unknown; onSaved: (count: number) => void }) {
  const t = useT();
  const [original, setOriginal] = useState<string | undefined>();
  const originalRef = useRef<string | undefined>(undefined);
  const [text, setText] = useState('');
  const { busy, error, setError, run } = useAction();
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);

  // Reload the text when the log changes (table edits, clear), unless the user has unsaved edits.
  useEffect(() => {
    const controller = new AbortController();
    get<string>('/api/messages/jsonl', controller.signal).then(
      (loaded) => {
        const previous = originalRef.current;
        setText((current) => (previous === undefined || current === previous ? loaded : current));
        originalRef.current = loaded;
        setOriginal(loaded);
      },
      setError,
    );
    return () => controller.abort();
  }, [version]);

  const { problem, count } = useMemo(() => firstProblem(text, t), [text, t]);
  const lineCount = text.split('\n').length;
  const dirty = original !== undefined && text !== original;

  function goTo(line: number) {
    const el = area.current;
    if (!el) return;
    const lines = text.split('\n');
    const start = lines.slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
    el.focus();
    el.setSelectionRange(start, start + lines[line - 1].length);
  }

  async function save() {
    if (problem || busy) return;
    await run(async () => {
      const reply = await put<{ count: number }>('/api/messages/jsonl', new Blob([text], { type: 'text/plain' }));
      const saved = await get<string>('/api/messages/jsonl');
      originalRef.current = saved;
      setOriginal(saved);
      setText(saved);
      onSaved(reply.count);
    });
  }

  return (
    <div class="card messages-jsonl">
      <div class="jsonl-editor">
        <div class="jsonl-gutter mono" ref={gutter} aria-hidden="true">
          {Array.from({ length: lineCount }, (_, i) => (
            <div key={i} class={problem?.line === i + 1 ? 'bad' : undefined}>
              {i + 1}
            </div>
          ))}
        </div>
        <textarea
          ref={area}
          data-testid="messages-jsonl"
          aria-label={t('jsonl')}
          aria-invalid={problem ? 'true' : 'false'}
          spellcheck={false}
          wrap="off"
          rows={16}
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          onScroll={(e) => {
            if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop;
          }}
          onKeyDown={(e) => {
            if ((e.ctrlKey || e.metaKey) && (e.key === 's' || e.key === 'Enter')) {
              e.preventDefault();
              void save();
            }
          }}
        />
      </div>
      <div class="row">
        <button type="button" class="primary" data-testid="messages-jsonl-save" disabled={busy || !!problem || !dirty} onClick={() => void save()}>
          {t('save')}
        </button>
        <button type="button" disabled={busy || !dirty} onClick={() => original !== undefined && setText(original)}>
          {t('revert')}
        </button>
        {problem ? (
          <span class="error" role="alert" data-testid="messages-jsonl-problem" data-line={problem.line}>
            {t('badLine', { line: problem.line, why: problem.why })}{' '}
            <button type="button" onClick={() => goTo(problem.line)}>
              {t('goToLine', { line: problem.line })}
            </button>
          </span>
        ) : (
          <span class="ok">{t('valid', { count })}</span>
        )}
        {dirty && <span class="muted">{t('unsaved')}</span>}
      </div>
      <ErrorLine error={error} />
    </div>
  );
}
