/** State kept in this browser's storage, so a tab's settings and drafts survive a reload. */
import { useCallback, useRef, useState } from 'preact/hooks';

function read<T>(key: string, initial: T): T {
  try {
    const raw = localStorage.getItem(key);
    if (raw === null) return initial;
    const parsed: unknown = JSON.parse(raw);
    // A value of another shape than `initial` (an older version of the page) is ignored.
    if (parsed === null || typeof parsed !== typeof initial || Array.isArray(parsed) !== Array.isArray(initial)) return initial;
    return typeof parsed === 'object' && !Array.isArray(parsed) ? { ...initial, ...parsed } : (parsed as T);
  } catch {
    return initial; // unreadable: start afresh
  }
}

/**
 * Like useState, but the value is read from and written to localStorage under `key` (as JSON).
 * Written at each change, not after the next paint (which a reload can beat).
 */
export function useStored<T>(key: string, initial: T): [T, (change: T | ((old: T) => T)) => void] {
  const [value, setValue] = useState<T>(() => read(key, initial));
  const latest = useRef(value);
  const set = useCallback(
    (change: T | ((old: T) => T)) => {
      const next = typeof change === 'function' ? (change as (old: T) => T)(latest.current) : change;
      latest.current = next;
      try {
        localStorage.setItem(key, JSON.stringify(next));
      } catch {
        // Storage full or off: the value lives on in memory.
      }
      setValue(next);
    },
    [key],
  );
  return [value, set];
}
