/** Keyboard shortcuts that work wherever the focus is while a tab is shown. */
import { useEffect, useRef } from 'preact/hooks';

/** Listens to the page's keydown events while the component is mounted; the latest `handler` runs (subscribed once). */
export function usePageKeydown(handler: (e: KeyboardEvent) => void): void {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => latest.current(e);
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);
}
