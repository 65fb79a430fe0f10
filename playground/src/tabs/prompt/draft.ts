/** The tab's draft in this browser's storage, written at each change (not after the next paint, which a reload can beat). */
import { useCallback, useRef, useState } from 'preact/hooks';

function read<T extends object>(key: string, initial: T): T {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(key) ?? 'null');
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) !== Array.isArray(initial)) return initial;
    return Array.isArray(initial) ? (parsed as T) : { ...initial, ...parsed };
  } catch {
    return initial; // unreadable (an older page's shape): start afresh
  }
}

/** useState whose value (an object or array) is kept in localStorage under `key`. */
export function useSavedState<T extends object>(key: string, initial: T): [T, (change: T | ((old: T) => T)) => void] {
  const [value, setValue] = useState<T>(() => read(key, initial));
  const latest = useRef(value);
  const set = useCallback(
    (change: T | ((old: T) => T)) => {
      const next = typeof change === 'function' ? (change as (old: T) => T)(latest.current) : change;
      latest.current = next;
      try {
        localStorage.setItem(key, JSON.stringify(next));
      } catch {
        // Storage full or off: the draft lives on in memory.
      }
      setValue(next);
    },
    [key],
  );
  return [value, set];
}
