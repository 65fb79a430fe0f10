/** Small shared pieces: an error line, a progress bar, and hooks that load data from the API and run an action. */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { isAbort } from '../api';

export function ErrorLine({ error }: { error: unknown }) {
  if (error === undefined || error === null || isAbort(error)) return null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <p class="error" role="alert">
      {message}
    </p>
  );
}

/** `value` in [0, 1], or undefined while the total is unknown. */
export function ProgressBar({ value, label }: { value?: number; label?: string }) {
  return (
    <div class="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={value === undefined ? undefined : Math.round(value * 100)} aria-label={label}>
      <div class={value === undefined ? 'progress-fill indeterminate' : 'progress-fill'} style={{ width: value === undefined ? '30%' : `${Math.max(0, Math.min(1, value)) * 100}%` }} />
      {label && <span class="progress-label">{label}</span>}
    </div>
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` on mount and whenever `deps` change or `reload()` is called. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [round, setRound] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    load(controller.signal).then(
      (data) => !controller.signal.aborted && setState({ data, loading: false }),
      (error) => !controller.signal.aborted && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

export interface Action {
  busy: boolean;
  error: unknown;
  setError: (error: unknown) => void;
  run: (work: () => Promise<unknown>) => Promise<void>;
}

/** A button's action: `run(work)` is busy while `work` runs and keeps the error it throws (cleared when the next starts). */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  async function run(work: () => Promise<unknown>) {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, setError, run };
}
