/**
 * The RAG tab: collections (create / delete), documents uploaded by drag and drop or a file
 * button with a chunk size and progress (upload, then the server's ingest phases), the files of
 * a collection, a search showing chunks with their files and scores, and the `{rag(...)}` call
 * to paste into an instruction.
 */
import { ConfirmAction } from '../../components/confirm';
import { CopyButton } from '../../components/copy';
import { useEffect, useRef, useState } from 'preact/hooks';
import { del, get, isAbort, post } from '../../api';
import { ErrorLine, ProgressBar, useAction, useLoad } from '../../components/status';
import { defineMessages, useLanguage } from '../../i18n';
import { uploadToCollection, type IngestProgress, type SaveDetail } from './upload';
import './rag.css';

const useT = defineMessages({
  en: {
    collections: 'Collections',
    none: 'No collections yet. Create one, then drop documents into it.',
    notSetUp: 'RAG is not set up on this server.',
    name: 'Name',
    chunkSize: 'Chunk size',
    chunkSizeHint: 'Characters per chunk; 0 = one chunk per file.',
    create: 'Create',
    files: 'Files',
    chunks: 'Chunks',
    counts: 'files {files} · chunks {chunks}',
    lexical: 'lexical only',
    embedding: 'embeddings: {model}',
    delete: 'Delete collection',
    confirmDelete: 'Delete {name} and all its files?',
    deleted: 'Deleted {name}.',
    pick: 'Pick a collection on the left, or create one.',
    drop: 'Drop archives (zip, tar, tar.gz) or documents (txt, md, html, csv, json, pdf, docx) here',
    choose: 'Choose files…',
    uploading: 'Uploading {file}',
    phase_upload: 'Uploading',
    phase_extract: 'Extracting',
    phase_read: 'Reading',
    phase_embed: 'Embedding',
    phase_index: 'Indexing',
    phase_write: 'Writing',
    ofFiles: 'file {n} of {total}',
    stop: 'Stop',
    added: '{file}: added — files {files}, chunks {chunks} ({ms} ms)',
    skipped: 'skipped {file}: {reason}',
    noFiles: 'No files yet.',
    path: 'File',
    format: 'Format',
    size: 'Size',
    addedAt: 'Added',
    search: 'Search',
    query: 'Query',
    queryPlaceholder: 'Ask something the documents answer…',
    k: 'Results',
    mode: 'Mode',
    noResults: 'Nothing found.',
    score: 'score',
    vector: 'vector',
    bm25: 'BM25',
    chunk: 'chunk {index}',
    use: 'In an instruction',
    useHint: 'Puts the best {k} chunk(s) for the input into the prompt.',
    loading: 'Loading…',
  },
  ja: {
    collections: 'コレクション',
    none: 'コレクションはまだありません。作成してから文書をドロップしてください。',
    notSetUp: 'このサーバーでは RAG が設定されていません。',
    name: '名前',
    chunkSize: 'チャンクサイズ',
    chunkSizeHint: '1チャンクの文字数。0 = 1ファイル1チャンク。',
    create: '作成',
    files: 'ファイル',
    chunks: 'チャンク',
    counts: 'ファイル {files} · チャンク {chunks}',
    lexical: '語彙検索のみ',
    embedding: '埋め込み: {model}',
    delete: 'コレクションを削除',
    confirmDelete: '{name} とそのファイルをすべて削除しますか?',
    deleted: '{name} を削除しました。',
    pick: '左でコレクションを選ぶか、新しく作成してください。',
    drop: 'アーカイブ(zip, tar, tar.gz)や文書(txt, md, html, csv, json, pdf, docx)をここにドロップ',
    choose: 'ファイルを選択…',
    uploading: '{file} をアップロード中',
    phase_upload: 'アップロード',
    phase_extract: '展開',
    phase_read: '読み込み',
    phase_embed: '埋め込み',
    phase_index: '索引作成',
    phase_write: '書き込み',
    ofFiles: '{total} 件中 {n} 件目',
    stop: '中止',
    added: '{file}: 追加しました — ファイル {files}、チャンク {chunks}({ms} ms)',
    skipped: '{file} をスキップ: {reason}',
    noFiles: 'ファイルはまだありません。',
    path: 'ファイル',
    format: '形式',
    size: 'サイズ',
    addedAt: '追加日時',
    search: '検索',
    query: '検索語',
    queryPlaceholder: '文書が答えられる質問を入力…',
    k: '件数',
    mode: 'モード',
    noResults: '見つかりませんでした。',
    score: 'スコア',
    vector: 'ベクトル',
    bm25: 'BM25',
    chunk: 'チャンク {index}',
    use: '命令文での使い方',
    useHint: '入力に最も近い {k} 件のチャンクをプロンプトに入れます。',
    loading: '読み込み中…',
  },
});
type T = ReturnType<typeof useT>;

interface CollectionInfo {
  name: string;
  embedding: { model: string } | null;
  chunkSize: number;
  fileCount: number;
  chunkCount: number;
  updatedAt?: string;
}

interface FileEntry {
  path: string;
  chunkCount: number;
  bytes: number;
  format: string;
  addedAt: string;
}

interface SearchResult {
  text: string;
  score: number;
  vectorScore?: number;
  lexicalScore?: number;
  file: string;
  index: number;
}

const SELECTED = 'akachat.rag.collection';

/** The call to paste into an instruction; the name as a Python-style string literal. */
export function ragCall(name: string, k: number): string {
  const literal = `'${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return k === 1 ? `{rag(${literal}, input)}` : `{rag(${literal}, input, ${k})}`;
}

function bytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function RagTab() {
  const t = useT();
  const overview = useLoad((signal) => get<{ configured: boolean; collections: CollectionInfo[] }>('/api/rag', signal));
  const list = { ...overview, data: overview.data?.configured ? overview.data.collections : undefined };
  const [selected, setSelected] = useState<string | null>(() => localStorage.getItem(SELECTED));
  const [notice, setNotice] = useState('');

  function select(name: string | null) {
    setSelected(name);
    if (name) localStorage.setItem(SELECTED, name);
    else localStorage.removeItem(SELECTED);
  }

  const current = list.data?.find((c) => c.name === selected);
  const notSetUp = overview.data?.configured === false;

  return (
    <div class="rag-tab side-layout">
      <aside class="card rag-collections" aria-label={t('collections')}>
        <h2>{t('collections')}</h2>
        {notSetUp && <p class="muted">{t('notSetUp')}</p>}
        <ErrorLine error={list.error} />
        {list.loading && !list.data && <p class="muted">{t('loading')}</p>}
        {list.data?.length === 0 && <p class="muted">{t('none')}</p>}
        <ul class="side-list rag-list" role="listbox" aria-label={t('collections')}>
          {list.data?.map((c) => (
            <li key={c.name}>
              <button type="button" role="option" aria-selected={c.name === selected} class={c.name === selected ? 'side-item active' : 'side-item'} data-testid="rag-collection" data-name={c.name} onClick={() => select(c.name)}>
                <span class="mono rag-item-name">{c.name}</span>
                <span class="muted rag-item-counts">{t('counts', { files: c.fileCount, chunks: c.chunkCount })}</span>
              </button>
            </li>
          ))}
        </ul>
        {!notSetUp && (
          <CreateForm
            onCreated={(name) => {
              select(name);
              setNotice('');
              list.reload();
            }}
          />
        )}
      </aside>
      <div class="rag-main">
        {notice && (
          <p class="ok" role="status">
            {notice}
          </p>
        )}
        {current ? (
          <CollectionView
            key={current.name}
            info={current}
            onChanged={list.reload}
            onDeleted={() => {
              setNotice(t('deleted', { name: current.name }));
              select(null);
              list.reload();
            }}
          />
        ) : (
          !notSetUp && <p class="muted card">{t('pick')}</p>
        )}
      </div>
    </div>
  );
}

function CreateForm({ onCreated }: { onCreated: (name: string) => void }) {
  const t = useT();
  const [name, setName] = useState('');
  const [chunkSize, setChunkSize] = useState('500');
  const { busy, error, run } = useAction();
  return (
    <form
      class="rag-create"
      onSubmit={async (e) => {
        e.preventDefault();
        if (busy || !name.trim()) return;
        await run(async () => {
          await post('/api/rag/collections', { dir: name.trim(), chunk_size: Number(chunkSize) });
          onCreated(name.trim());
          setName('');
        });
      }}
    >
      <label>
        {t('name')}
        <input class="mono" data-testid="rag-new-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label title={t('chunkSizeHint')}>
        {t('chunkSize')}
        <input type="number" min={0} step={50} data-testid="rag-new-chunk" value={chunkSize} onInput={(e) => setChunkSize(e.currentTarget.value)} />
      </label>
      <button type="submit" class="primary" data-testid="rag-create" disabled={busy || !name.trim()}>
        {t('create')}
      </button>
      <ErrorLine error={error} />
    </form>
  );
}

function CollectionView({ info, onChanged, onDeleted }: { info: CollectionInfo; onChanged: () => void; onDeleted: () => void }) {
  const t = useT();
  const lang = useLanguage();
  const files = useLoad(async (signal) => (await get<{ files: FileEntry[] }>(`/api/rag/collections/${encodeURIComponent(info.name)}/files`, signal)).files, [info.name, info.fileCount, info.chunkCount]);
  const [k, setK] = useState(3);
  const [error, setError] = useState<unknown>();

  return (
    <>
      <section class="card rag-head">
        <div class="row">
          <h2 class="mono">{info.name}</h2>
          <span class="muted">
            {t('counts', { files: info.fileCount, chunks: info.chunkCount })} · {t('chunkSize')} {info.chunkSize} · {info.embedding ? t('embedding', { model: info.embedding.model }) : t('lexical')}
          </span>
          <span class="spacer" />
          <ConfirmAction
            testId="rag-delete"
            label={t('delete')}
            question={t('confirmDelete', { name: info.name })}
            onConfirm={async () => {
              setError(undefined);
              try {
                await del(`/api/rag/collections/${encodeURIComponent(info.name)}`);
                onDeleted();
              } catch (err) {
                setError(err);
              }
            }}
          />
        </div>
        <div class="row rag-use">
          <span class="muted">{t('use')}</span>
          <code class="mono rag-call" data-testid="rag-call">
            {ragCall(info.name, k)}
          </code>
          <CopyButton text={ragCall(info.name, k)} testId="rag-copy" />
          <span class="muted">{t('useHint', { k })}</span>
        </div>
        <ErrorLine error={error} />
      </section>
      <Upload dir={info.name} defaultChunkSize={info.chunkSize} onDone={onChanged} />
      <Search dir={info.name} hasEmbedding={!!info.embedding} k={k} setK={setK} />
      <section class="card" aria-label={t('files')}>
        <h3>
          {t('files')} <span class="muted">({files.data?.length ?? info.fileCount})</span>
        </h3>
        <ErrorLine error={files.error} />
        {files.data?.length === 0 && <p class="muted">{t('noFiles')}</p>}
        {!!files.data?.length && (
          <div class="rag-files-wrap">
            <table class="rag-files" data-testid="rag-files">
              <thead>
                <tr>
                  <th>{t('path')}</th>
                  <th>{t('format')}</th>
                  <th>{t('chunks')}</th>
                  <th>{t('size')}</th>
                  <th>{t('addedAt')}</th>
                </tr>
              </thead>
              <tbody>
                {files.data.map((f) => (
                  <tr key={f.path}>
                    <td class="mono">{f.path}</td>
                    <td>{f.format}</td>
                    <td class="num">{f.chunkCount}</td>
                    <td class="num">{bytes(f.bytes)}</td>
                    <td class="muted">{new Date(f.addedAt).toLocaleString(lang)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

/** One line of an upload's outcome, translated when shown (it follows a language switch). */
interface ResultLine {
  key: 'added' | 'skipped';
  values: Record<string, string | number>;
}

interface UploadState {
  file: string;
  n: number;
  total: number;
  phase: string;
  /** In [0, 1]; undefined while unknown. */
  value?: number;
  detail: string;
}

function phaseLabel(t: T, phase: string): string {
  const key = `phase_${phase}` as Parameters<T>[0];
  const text = t(key);
  return text === key ? phase : text;
}

function Upload({ dir, defaultChunkSize, onDone }: { dir: string; defaultChunkSize: number; onDone: () => void }) {
  const t = useT();
  const [chunkSize, setChunkSize] = useState(String(defaultChunkSize));
  const [state, setState] = useState<UploadState | undefined>();
  const [results, setResults] = useState<ResultLine[]>([]);
  const [error, setError] = useState<unknown>();
  const [over, setOver] = useState(false);
  const controller = useRef<AbortController | undefined>(undefined);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => () => controller.current?.abort(), []);

  async function send(list: File[]) {
    if (list.length === 0 || state) return;
    const size = chunkSize.trim() === '' ? undefined : Number(chunkSize);
    controller.current = new AbortController();
    setError(undefined);
    setResults([]);
    const lines: ResultLine[] = [];
    try {
      for (const [i, file] of list.entries()) {
        const base = { file: file.name, n: i + 1, total: list.length };
        setState({ ...base, phase: 'upload', value: 0, detail: '' });
        const detail: SaveDetail = await uploadToCollection(
          dir,
          file,
          size,
          {
            onUpload: (sent, total) => setState({ ...base, phase: 'upload', value: total ? sent / total : undefined, detail: `${bytes(sent)} / ${bytes(total)}` }),
            onIngest: (p: IngestProgress) => setState({ ...base, phase: p.phase, value: p.total ? p.done / p.total : undefined, detail: `${p.done} / ${p.total}` }),
          },
          controller.current.signal,
        );
        const added = detail.added;
        lines.push({ key: 'added', values: { file: file.name, files: added?.added?.length ?? 0, chunks: added?.chunksAdded ?? 0, ms: Math.round(added?.durationMs ?? 0) } });
        for (const skip of added?.skipped ?? []) lines.push({ key: 'skipped', values: { file: skip.file, reason: skip.reason } });
        setResults([...lines]);
        onDone();
      }
    } catch (err) {
      if (!isAbort(err)) setError(err);
      onDone();
    } finally {
      setState(undefined);
      if (input.current) input.current.value = '';
    }
  }

  return (
    <section class="card rag-upload" aria-label={t('choose')}>
      <div
        class={over ? 'rag-drop over' : 'rag-drop'}
        data-testid="rag-drop"
        onDragOver={(e) => {
          e.preventDefault();
          if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          void send(Array.from(e.dataTransfer?.files ?? []));
        }}
      >
        <p>{t('drop')}</p>
        <div class="row">
          <button type="button" class="primary" disabled={!!state} onClick={() => input.current?.click()}>
            {t('choose')}
          </button>
          <input
            ref={input}
            type="file"
            multiple
            hidden
            data-testid="rag-file"
            accept=".zip,.tar,.tgz,.gz,.txt,.text,.log,.rst,.md,.markdown,.html,.htm,.xhtml,.csv,.tsv,.json,.jsonl,.ndjson,.pdf,.docx"
            onChange={(e) => void send(Array.from(e.currentTarget.files ?? []))}
          />
          <label title={t('chunkSizeHint')}>
            {t('chunkSize')}{' '}
            <input type="number" min={0} step={50} class="rag-chunk" data-testid="rag-chunk-size" value={chunkSize} disabled={!!state} onInput={(e) => setChunkSize(e.currentTarget.value)} />
          </label>
          <span class="muted">{t('chunkSizeHint')}</span>
        </div>
      </div>
      {state && (
        <div class="rag-progress" data-testid="rag-progress" data-phase={state.phase}>
          <div class="row">
            <span>{t('uploading', { file: state.file })}</span>
            {state.total > 1 && <span class="muted">{t('ofFiles', { n: state.n, total: state.total })}</span>}
            <button type="button" onClick={() => controller.current?.abort()}>
              {t('stop')}
            </button>
          </div>
          <ProgressBar value={state.value} label={`${phaseLabel(t, state.phase)} ${state.detail}`} />
        </div>
      )}
      <ErrorLine error={error} />
      {results.length > 0 && (
        <ul class="rag-results-log" data-testid="rag-upload-result">
          {results.map((line, i) => (
            <li key={i} class={line.key === 'skipped' ? 'muted' : 'ok'}>
              {t(line.key, line.values)}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** The chunk's text with the query's words marked. */
function Highlighted({ text, query }: { text: string; query: string }) {
  const words = query
    .split(/[\s\p{P}]+/u)
    .filter((w) => w.length >= 2)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (words.length === 0) return <>{text}</>;
  const parts = text.split(new RegExp(`(${words.join('|')})`, 'giu'));
  return <>{parts.map((part, i) => (i % 2 === 1 ? <mark key={i}>{part}</mark> : part))}</>;
}

function Search({ dir, hasEmbedding, k, setK }: { dir: string; hasEmbedding: boolean; k: number; setK: (k: number) => void }) {
  const t = useT();
  const [query, setQuery] = useState('');
  const [mode, setMode] = useState(hasEmbedding ? 'hybrid' : 'lexical');
  const [results, setResults] = useState<{ query: string; list: SearchResult[] } | undefined>();
  const { busy, error, run } = useAction();

  async function search() {
    if (!query.trim() || busy) return;
    await run(async () => {
      const reply = await post<{ detail: { results: SearchResult[] } }>('/api/rag/search', { dir, query, k, mode });
      setResults({ query, list: reply.detail.results });
    });
  }

  return (
    <section class="card rag-search" aria-label={t('search')}>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          void search();
        }}
      >
        <input type="search" class="rag-query" data-testid="rag-query" aria-label={t('query')} placeholder={t('queryPlaceholder')} value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        <label>
          {t('k')}{' '}
          <input type="number" min={1} max={100} class="rag-k" data-testid="rag-k" value={k} onInput={(e) => setK(Math.max(1, Math.min(100, Number(e.currentTarget.value) || 1)))} />
        </label>
        <label>
          {t('mode')}{' '}
          <select value={mode} data-testid="rag-mode" onChange={(e) => setMode(e.currentTarget.value)}>
            {hasEmbedding && <option value="hybrid">hybrid</option>}
            {hasEmbedding && <option value="vector">vector</option>}
            <option value="lexical">lexical</option>
          </select>
        </label>
        <button type="submit" class="primary" data-testid="rag-search" disabled={busy || !query.trim()}>
          {t('search')}
        </button>
      </form>
      <ErrorLine error={error} />
      {results && results.list.length === 0 && <p class="muted">{t('noResults')}</p>}
      {results && results.list.length > 0 && (
        <ol class="rag-hits" data-testid="rag-hits">
          {results.list.map((hit, i) => (
            <li key={i} class="rag-hit" data-testid="rag-hit" data-file={hit.file} data-score={hit.score}>
              <div class="row rag-hit-head">
                <span class="rag-rank">#{i + 1}</span>
                <span class="mono">{hit.file}</span>
                <span class="muted">{t('chunk', { index: hit.index })}</span>
                <span class="spacer" />
                <span class="rag-score" title={t('score')}>
                  {t('score')} {hit.score.toFixed(4)}
                </span>
                {hit.vectorScore !== undefined && mode === 'hybrid' && (
                  <span class="muted">
                    {t('vector')} {hit.vectorScore.toFixed(3)}
                  </span>
                )}
                {hit.lexicalScore !== undefined && mode === 'hybrid' && (
                  <span class="muted">
                    {t('bm25')} {hit.lexicalScore.toFixed(3)}
                  </span>
                )}
              </div>
              <pre class="rag-chunk-text">
                <Highlighted text={hit.text} query={results.query} />
              </pre>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
