/**
 * Report downloads. The report route needs the API key when the server has one, which a plain
 * link cannot send: each report is fetched with it and saved through a blob: link with
 * `download` (a download, not a navigation, so the page's CSP does not stand in the way).
 */
import { useState } from 'preact/hooks';
import { ApiError, apiKey, errorMessage } from '../../api';
import { ErrorLine } from '../../components/status';
import { useBatchT } from './messages';

const FORMATS = ['html', 'md', 'csv', 'json', 'log'] as const;

async function download(id: string, format: string): Promise<void> {
  const key = apiKey();
  const response = await fetch(`/api/batch/${encodeURIComponent(id)}/report/${format}`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  if (!response.ok) {
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: the text is the message
    }
    throw new ApiError(response.status, errorMessage(body, `${response.status} ${response.statusText}`), body);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = `${id}.${format}`;
  document.body.append(link);
  link.click();
  link.remove();
  // The click has handed the blob to the download; free it once that has started.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function Reports({ id }: { id: string }) {
  const t = useBatchT();
  const [error, setError] = useState<unknown>();
  return (
    <div class="row batch-reports" data-testid="batch-reports">
      <span class="muted">{t('reports')}</span>
      {FORMATS.map((format) => (
        <button
          key={format}
          type="button"
          data-format={format}
          onClick={() => {
            setError(undefined);
            download(id, format).catch(setError);
          }}
        >
          {format.toUpperCase()}
        </button>
      ))}
      <ErrorLine error={error} />
    </div>
  );
}
