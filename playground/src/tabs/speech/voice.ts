/**
 * The browser's speech synthesis for the speech tab: the voices (they load asynchronously in
 * Chrome: `voiceschanged`), and a speaker that queues one utterance per sentence as sentences
 * arrive, tells which one is being spoken, and cancels them all on stop.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/** Undefined in browsers without the Web Speech API (the toggle is hidden then). */
export const synthesis: SpeechSynthesis | undefined = typeof speechSynthesis === 'undefined' ? undefined : speechSynthesis;

/** The voices as they load. */
export function useVoices(): SpeechSynthesisVoice[] {
  const [voices, setVoices] = useState<SpeechSynthesisVoice[]>(() => synthesis?.getVoices() ?? []);
  useEffect(() => {
    if (!synthesis) return;
    const update = () => setVoices(synthesis.getVoices());
    synthesis.addEventListener('voiceschanged', update);
    update();
    return () => synthesis.removeEventListener('voiceschanged', update);
  }, []);
  return voices;
}

/** `ja-JP` → `ja`; voice languages are compared by their primary subtag. */
export function primaryLanguage(tag: string): string {
  return tag.toLowerCase().split(/[-_]/)[0] ?? '';
}

export interface SpeakSettings {
  /** Primary language subtag the voice must have (e.g. `ja`). */
  lang: string;
  /** voiceURI of the chosen voice, or '' for the browser's default voice for `lang`. */
  voice: string;
  rate: number;
}

/** Something being spoken, by the key its caller gave it. */
export interface Speaker {
  speak(text: string, key: string): void;
  cancel(): void;
  /** The key of the utterance being spoken now. */
  speaking: string | undefined;
}

export function useSpeaker(settings: SpeakSettings, voices: SpeechSynthesisVoice[]): Speaker {
  const [speaking, setSpeaking] = useState<string>();
  // Utterances must stay referenced until they end: Chrome drops events of collected ones.
  const queued = useRef(new Set<SpeechSynthesisUtterance>());
  const speak = useCallback(
    (text: string, key: string) => {
      if (!synthesis || text.trim() === '') return;
      const utterance = new SpeechSynthesisUtterance(text);
      const voice = voices.find((v) => v.voiceURI === settings.voice && primaryLanguage(v.lang) === settings.lang);
      if (voice) utterance.voice = voice;
      utterance.lang = voice?.lang ?? settings.lang;
      utterance.rate = settings.rate;
      utterance.onstart = () => setSpeaking(key);
      utterance.onend = utterance.onerror = () => {
        queued.current.delete(utterance);
        setSpeaking((now) => (now === key ? undefined : now));
      };
      queued.current.add(utterance);
      synthesis.speak(utterance);
    },
    [settings.voice, settings.lang, settings.rate, voices],
  );
  const cancel = useCallback(() => {
    queued.current.clear();
    synthesis?.cancel();
    setSpeaking(undefined);
  }, []);
  useEffect(() => cancel, [cancel]);
  return { speak, cancel, speaking };
}
