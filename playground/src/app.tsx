/** The page: a header (language, API key, docs link) and one tab at a time, chosen by the URL hash. */
import { lazy, Suspense } from 'preact/compat';
import { useEffect, useState } from 'preact/hooks';
import { apiKey, setApiKey } from './api';
import { defineMessages, setLanguage, useLanguage } from './i18n';

const useT = defineMessages({
  en: {
    prompt: 'Prompt',
    compare: 'Compare',
    speech: 'Speech',
    rag: 'RAG',
    var: 'Var',
    messages: 'Messages',
    settings: 'Settings',
    batch: 'Batch',
    apiKey: 'API key',
    apiKeyHint: 'Only needed when the server was started with an API key; kept in this browser.',
    docs: 'API docs',
  },
  ja: {
    prompt: 'プロンプト',
    compare: '比較',
    speech: '音声',
    rag: 'RAG',
    var: '変数',
    messages: 'メッセージ',
    settings: '設定',
    batch: 'バッチ',
    apiKey: 'APIキー',
    apiKeyHint: 'サーバーがAPIキー付きで起動された場合のみ必要です。このブラウザに保存されます。',
    docs: 'APIドキュメント',
  },
});

// Each tab is its own chunk, loaded when first opened: the page starts with the shell and one tab.
const TABS = {
  prompt: lazy(() => import('./tabs/prompt').then((m) => ({ default: m.PromptTab }))),
  compare: lazy(() => import('./tabs/compare').then((m) => ({ default: m.CompareTab }))),
  speech: lazy(() => import('./tabs/speech').then((m) => ({ default: m.SpeechTab }))),
  rag: lazy(() => import('./tabs/rag').then((m) => ({ default: m.RagTab }))),
  var: lazy(() => import('./tabs/var').then((m) => ({ default: m.VarTab }))),
  messages: lazy(() => import('./tabs/messages').then((m) => ({ default: m.MessagesTab }))),
  settings: lazy(() => import('./tabs/settings').then((m) => ({ default: m.SettingsTab }))),
  batch: lazy(() => import('./tabs/batch').then((m) => ({ default: m.BatchTab }))),
} as const;
export type TabName = keyof typeof TABS;

function tabFromHash(): TabName {
  const name = location.hash.replace(/^#\/?/, '').split(/[/?]/)[0];
  return name in TABS ? (name as TabName) : 'prompt';
}

export function App() {
  const t = useT();
  const lang = useLanguage();
  const [tab, setTab] = useState<TabName>(tabFromHash);
  const [key, setKey] = useState(apiKey);
  useEffect(() => {
    const onHash = () => setTab(tabFromHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const Tab = TABS[tab];
  return (
    <div class="app">
      <header class="top">
        <h1>akachat</h1>
        <nav class="tabs" role="tablist">
          {(Object.keys(TABS) as TabName[]).map((name) => (
            <a key={name} href={`#/${name}`} role="tab" aria-selected={name === tab} class={name === tab ? 'tab active' : 'tab'} data-tab={name}>
              {t(name)}
            </a>
          ))}
        </nav>
        <div class="top-tools">
          <label title={t('apiKeyHint')}>
            {t('apiKey')}{' '}
            <input
              type="password"
              autocomplete="off"
              value={key}
              size={10}
              onChange={(e) => {
                const value = e.currentTarget.value.trim();
                setApiKey(value);
                setKey(value);
              }}
            />
          </label>
          <select aria-label="Language" value={lang} onChange={(e) => setLanguage(e.currentTarget.value as 'en' | 'ja')}>
            <option value="en">English</option>
            <option value="ja">日本語</option>
          </select>
          <a href="./docs" target="_blank" rel="noopener">
            {t('docs')}
          </a>
        </div>
      </header>
      <Suspense fallback={<main class="panel" aria-busy="true" />}>
        <main class="panel" data-panel={tab}>
          <Tab />
        </main>
      </Suspense>
    </div>
  );
}
