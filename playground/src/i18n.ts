/**
 * Japanese and English UI text. Each part of the page defines its own messages next to its code
 * (`defineMessages`), so tabs never share one big dictionary file. The language follows the
 * browser until the user picks one; the pick is remembered.
 */
import { useEffect, useState } from 'preact/hooks';

export type Lang = 'en' | 'ja';
const STORAGE = 'akachat.lang';
const listeners = new Set<(lang: Lang) => void>();

function initial(): Lang {
  const saved = localStorage.getItem(STORAGE);
  if (saved === 'en' || saved === 'ja') return saved;
  return navigator.languages?.some((l) => l.toLowerCase().startsWith('ja')) || navigator.language?.toLowerCase().startsWith('ja') ? 'ja' : 'en';
}

let current: Lang = initial();
document.documentElement.lang = current;

export function language(): Lang {
  return current;
}

export function setLanguage(lang: Lang): void {
  current = lang;
  localStorage.setItem(STORAGE, lang);
  document.documentElement.lang = lang;
  for (const listener of listeners) listener(lang);
}

/** The current language, re-rendering the component when it changes. */
export function useLanguage(): Lang {
  const [lang, setLang] = useState(current);
  useEffect(() => {
    listeners.add(setLang);
    return () => void listeners.delete(setLang);
  }, []);
  return lang;
}

/** `{name}` placeholders in a message are filled from `values`. */
export type Translate<K extends string> = (key: K, values?: Record<string, string | number>) => string;

/**
 * Messages in both languages; Japanese must have every English key (checked by the types).
 * Returns a hook giving `t(key, values)` for the current language.
 */
export function defineMessages<const M extends Record<string, string>>(messages: { en: M; ja: { [K in keyof M]: string } }): () => Translate<keyof M & string> {
  return () => {
    const lang = useLanguage();
    return (key, values) => {
      const text: string = (lang === 'ja' ? messages.ja[key] : messages.en[key]) ?? key;
      return values ? text.replace(/\{(\w+)\}/g, (all, name: string) => (name in values ? String(values[name]) : all)) : text;
    };
  };
}
