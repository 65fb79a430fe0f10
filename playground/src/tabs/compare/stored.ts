/** State kept in this browser's storage, so a tab's settings and drafts survive a reload. */
import { useEffect, useState } from 'preact/hooks';

/**
 * Like useState, but the value is read from and written to localStorage under `key` (as JSON).
 * A stored value of another shape than `initial` (an older version of the page) is ignored.
 */
export function useStored<T>(key: string, initial: T): [T, (value: T | ((old: T) => T)) => void] {
  const [value, setValue] = useState<T>(() => {
    try {
      const raw = localStorage.getItem(key);
      if (raw === null) return initial;
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed !== typeof initial || Array.isArray(parsed) !== Array.isArray(initial)) return initial;
      return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? { ...initial, ...(parsed as object) } : (parsed as T);
    } catch {
      return initial;
    }
  });
  useEffect(() => {
    localStorage.setItem(key, JSON.stringify(value));
  }, [key, value]);
  return [value, setValue];
}
