/**
 * What a run did: its timings and token counts, and the detail (the instruction as evaluated with
 * each function's output marked, the messages or template text sent, the prompt the model saw).
 */
import { useState } from 'preact/hooks';
import { formatMs, formatRate, tokensPerSecond } from '../../components/stats';
import { useT } from './messages';
import type { EvaluatedPart, RunDetail, RunDone, SentMessage } from './run';

export function RunStatsLine({ done }: { done: RunDone }) {
  const t = useT();
  const { stats } = done;
  const rate = tokensPerSecond(stats);
  const items: Array<[string, string, string]> = [
    ['duration', t('duration'), formatMs(stats.durationMs)],
    ['ttft', t('ttft'), formatMs(stats.firstTokenMs)],
    ['speed', t('speed'), t('tokensPerSecond', { rate: formatRate(rate) })],
    ['prompt', t('promptTokens'), `${stats.promptTokens ?? '—'}${stats.reusedTokens ? ` (${t('reused', { n: stats.reusedTokens })})` : ''}`],
    ['generated', t('generated'), String(stats.completionTokens ?? '—')],
    ['stop', t('stopReason'), done.stopReason],
    ['model', t('model'), done.model],
  ];
  return (
    <dl class="stats prompt-stats" data-testid="run-stats">
      {items.map(([key, label, value]) => (
        <div key={key} data-stat={key}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function Messages({ messages }: { messages: SentMessage[] }) {
  return (
    <ol class="prompt-messages">
      {messages.map((message, index) => (
        <li key={index} class={`role-${message.role}`}>
          <span class="role">{message.role}</span>
          <pre>{message.content}</pre>
        </li>
      ))}
    </ol>
  );
}

function Part({ part }: { part: EvaluatedPart }) {
  const t = useT();
  if (part.source === null) return <span>{typeof part.output === 'string' ? part.output : ''}</span>;
  const title = t('partAt', { source: part.source, line: part.line, column: part.column });
  if (typeof part.output !== 'string') {
    return (
      <span class={`part part-messages source-${part.source}`} title={title} data-source={part.source}>
        <span class="part-label">{part.source}</span>
        <Messages messages={part.output} />
      </span>
    );
  }
  return (
    <mark class={`part source-${part.source}${part.output === '' ? ' part-empty' : ''}`} title={title} data-source={part.source}>
      <span class="part-label">{part.source}</span>
      {part.output}
    </mark>
  );
}

type View = 'evaluated' | 'sent' | 'rendered' | 'usedOptions';

export function RunDetailView({ detail, done, running }: { detail?: RunDetail; done?: RunDone; running: boolean }) {
  const t = useT();
  const [view, setView] = useState<View>('evaluated');
  const views: View[] = ['evaluated', 'sent', 'rendered', 'usedOptions'];
  return (
    <section class="card prompt-detail" aria-label={t('detail')} data-testid="run-detail">
      <div class="prompt-detail-head">
        <h2>{t('detail')}</h2>
        <div class="segmented compact" role="tablist">
          {views.map((name) => (
            <button key={name} type="button" role="tab" aria-selected={view === name} data-view={name} title={t(`${name}Title`)} onClick={() => setView(name)}>
              {t(name)}
            </button>
          ))}
        </div>
      </div>
      {!detail ? (
        <p class="muted">{t('noDetail')}</p>
      ) : view === 'evaluated' ? (
        <>
          <p class="muted small">{t('evaluatedHint')}</p>
          <div class="inset prompt-pre prompt-evaluated" data-testid="evaluated">
            {detail.parts.map((part, index) => (
              <Part key={index} part={part} />
            ))}
          </div>
        </>
      ) : view === 'sent' ? (
        <div data-testid="sent">
          {detail.messages ? (
            <>
              <p class="muted small">{t('messagesSent', { n: detail.messages.length })}</p>
              <Messages messages={detail.messages} />
            </>
          ) : (
            <>
              <p class="muted small">{t('templateSent')}</p>
              <pre class="inset prompt-pre">{detail.templateText || t('empty')}</pre>
            </>
          )}
        </div>
      ) : view === 'rendered' ? (
        <pre class="inset prompt-pre" data-testid="rendered">
          {done ? (done.renderedPrompt ?? t('renderedNone')) : running ? t('renderedPending') : t('renderedNone')}
        </pre>
      ) : (
        <pre class="inset prompt-pre">{JSON.stringify(detail.options, null, 2)}</pre>
      )}
    </section>
  );
}
