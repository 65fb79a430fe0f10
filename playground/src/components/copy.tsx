/** A button that copies a snippet (a `{rag(...)}` or `{var.key}` call) for pasting into an instruction. */
import { useState } from 'preact/hooks';
import { defineMessages } from '../i18n';

const useT = defineMessages({
  en: { copy: 'Copy', copied: 'Copied', copyFailed: 'Select and copy it by hand' },
  ja: { copy: 'コピー', copied: 'コピーしました', copyFailed: '選択して手動でコピーしてください' },
});

export function CopyButton({ text, testId }: { text: string; testId?: string }) {
  const t = useT();
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  async function copy() {
    try {
      // Not offered on plain-http origins other than localhost: then the user copies by hand.
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
    setTimeout(() => setState('idle'), 1500);
  }
  return (
    <button type="button" data-testid={testId} onClick={() => void copy()} aria-live="polite">
      {state === 'copied' ? t('copied') : state === 'failed' ? t('copyFailed') : t('copy')}
    </button>
  );
}
