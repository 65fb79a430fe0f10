/**
 * Sentence streaming for TTS: cuts a streamed LLM reply into whole sentences and cleans each
 * one for a speech engine, so an avatar can start speaking after the first sentence instead of
 * after the whole reply.
 *
 * Pure and engine-independent: the HTTP adapter feeds it the text deltas it streams anyway.
 */
import { expectInteger } from '../validate.js';

/** One sentence cut from a streamed reply. */
export interface Sentence {
  /**
   * Display text (subtitle, chat bubble): the sentence as written, trimmed, with its leading
   * emotion/motion tags removed (they are in `emotion` / `motion`). Whitespace between sentences
   * is dropped. For a code block: the whole fenced block, fences included.
   */
  text: string;
  /**
   * Text for the speech engine: `text` without markdown, links (their label is kept), images,
   * bare URLs, HTML tags, emoji, `*actions*`, `（stage directions）` and tags, whitespace
   * collapsed. Empty when nothing is left to say (code block, emoji or punctuation only):
   * clients skip TTS for it but still show `text`.
   */
  speech: string;
  /** Lowercased name from a leading `[happy]`, `[emotion:happy]` or `[face:happy]` tag. */
  emotion?: string;
  /** Lowercased name from a leading `[motion:wave]` or `[gesture:wave]` tag. */
  motion?: string;
  /** Present (true) on a fenced code block: shown, never spoken. */
  code?: true;
  /** 0-based position among the sentences emitted by one splitter. */
  index: number;
}

export interface SentenceSplitterOptions {
  /**
   * A `、` / `，` / `,` ends a sentence only once the sentence has at least this many characters
   * (UTF-16 code units, comma included), so short clauses are not spoken one by one.
   * Default 40.
   */
  minCommaLength?: number;
  /**
   * Bare `[name]` tags accepted as emotions (case-insensitive). Prefixed tags
   * (`[emotion:x]`, `[motion:x]`) are always accepted.
   * Default: any ASCII word starting with a letter (`[happy]`, `[relaxed]`, ...).
   */
  emotionNames?: readonly string[];
  /**
   * Words (lowercase, without their final dot) after which `.` does not end a sentence.
   * Default {@link DEFAULT_ABBREVIATIONS}.
   */
  abbreviations?: Iterable<string>;
}

/**
 * `.` after these does not end a sentence. Kept short on purpose: words that often end a sentence
 * too (`etc.`, `no.`, `p.m.`, `Inc.`) are left out, because a missed split only delays speech a
 * little while a wrong one breaks the intonation.
 */
export const DEFAULT_ABBREVIATIONS: readonly string[] = [
  'mr', 'mrs', 'ms', 'dr', 'prof', 'sr', 'jr', 'st', 'mt', 'vs', 'e.g', 'i.e', 'cf', 'fig', 'approx', 'u.s', 'u.k',
];

/** Marks that always end a sentence (no lookahead needed besides the run that follows). */
const CJK_TERMINATORS = new Set(['。', '！', '？', '｡', '．']);
const ASCII_TERMINATORS = new Set(['.', '!', '?']);
/** Characters that stay with the sentence after its terminator: more marks, closing quotes/brackets. */
const TRAILING_MARKS = new Set([
  '。', '！', '？', '｡', '．', '.', '!', '?', '…', '‥', '♪', '♫',
  '」', '』', '）', ')', '"', '\'', '”', '’', '】', '〉', '》', '］', ']', '〕', '｝', '}',
]);
const CJK_COMMAS = new Set(['、', '，', '､']);
const FENCE_CHARS = new Set(['`', '~']);

/** Emoji pieces: pictographs, skin tones, flags, joiners, variation selectors, keycaps. */
const EMOJI_PIECE = /[\p{Extended_Pictographic}\p{Emoji_Modifier}\p{Regional_Indicator}\u200d\ufe0e\ufe0f\u20e3]/u;
const EMOJI_PIECES = /[\p{Extended_Pictographic}\p{Emoji_Modifier}\p{Regional_Indicator}\u200d\ufe0e\ufe0f\u20e3]/gu;
/** Scripts written without spaces: an ASCII `.!?` directly followed by one still ends a sentence. */
const CJK_LETTER = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

/** `[happy]`, `[emotion:happy]`, `[motion: wave]`; never a markdown link `[text](url)`. */
const LEADING_TAG = /^\s*\[\s*(?:(emotion|face|expression|motion|gesture)\s*[:：=]\s*)?([A-Za-z][\w-]{0,31})\s*\](?!\()/i;
const ANY_TAG = /\[\s*(?:(?:emotion|face|expression|motion|gesture)\s*[:：=]\s*)?[A-Za-z][\w-]{0,31}\s*\](?!\()/gi;
/** What a tag looks like while it is still arriving, e.g. `[emo` at the end of the buffer. */
const PARTIAL_TAG = /^\[\s*[A-Za-z][\w-]*(?:\s*[:：=]\s*[\w-]*)?\s*$|^\[\s*$/;

const NOT_A_BOUNDARY = -1;
const NEED_MORE_TEXT = -2;

/**
 * Cuts streamed text into sentences for TTS.
 *
 * Boundaries: Japanese `。！？` (full-width), newlines, ASCII `.!?` followed by whitespace, the end,
 * a CJK letter or a tag (never inside `3.14`, after `Mr.` / `e.g.`, or after a list number `1.`),
 * and `、` / `，` / `, ` once the sentence has `minCommaLength` characters. Closing quotes and
 * brackets (`」』）)"`) and repeated marks (`！？`, `...`) stay with their sentence. A fenced code
 * block (```` ``` ```` or `~~~`) is one sentence with empty speech.
 *
 * Splitting does not depend on how the text was chunked: whenever a decision needs text that has
 * not arrived yet, the splitter waits for the next chunk (or `flush()`), so streaming a reply in
 * any pieces gives the same sentences as pushing it at once.
 *
 * Tags: leading `[happy]` / `[emotion:happy]` / `[motion:wave]` of a sentence set `emotion` /
 * `motion` and are removed from both `text` and `speech`. They are not inherited by later
 * sentences. A line holding only tags passes them to the next sentence; tags left at the very end
 * are emitted as a sentence with empty `text` and `speech` so the expression is not lost. Apart
 * from that case, a sentence is emitted only when it has display text (whitespace-only pieces are
 * dropped; emoji-only ones are emitted with empty speech).
 */
export class SentenceSplitter {
  readonly #minCommaLength: number;
  readonly #emotionNames: ReadonlySet<string> | undefined;
  readonly #abbreviations: ReadonlySet<string>;
  /** Text received but not emitted yet; starts at a sentence start once leading whitespace is gone. */
  #pending = '';
  /** Positions of `#pending` before this one are known not to end the current sentence. */
  #scanFrom = 0;
  /** A high surrogate at the end of a chunk waits for its other half. */
  #heldSurrogate = '';
  #carriedEmotion: string | undefined;
  #carriedMotion: string | undefined;
  #nextIndex = 0;

  constructor(options: SentenceSplitterOptions = {}) {
    const { minCommaLength = 40, emotionNames, abbreviations = DEFAULT_ABBREVIATIONS } = options;
    this.#minCommaLength = expectInteger(minCommaLength, 'minCommaLength', 1);
    this.#emotionNames = emotionNames ? new Set(emotionNames.map((name) => name.toLowerCase())) : undefined;
    this.#abbreviations = new Set([...abbreviations].map((word) => word.toLowerCase()));
  }

  /** Adds a streamed chunk; returns the sentences it completed (often none). */
  push(chunk: string): Sentence[] {
    let text = this.#heldSurrogate + chunk;
    this.#heldSurrogate = '';
    const last = text.charCodeAt(text.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.#heldSurrogate = text.slice(-1);
      text = text.slice(0, -1);
    }
    this.#pending += text;
    return this.#drain(false);
  }

  /** Ends the reply: returns every sentence still pending. The splitter can then take another reply (index restarts at 0). */
  flush(): Sentence[] {
    this.#pending += this.#heldSurrogate;
    this.#heldSurrogate = '';
    const sentences = this.#drain(true);
    if (this.#carriedEmotion !== undefined || this.#carriedMotion !== undefined) {
      sentences.push(this.#sentence('', '', {}));
    }
    this.#nextIndex = 0;
    return sentences;
  }

  #drain(final: boolean): Sentence[] {
    const sentences: Sentence[] = [];
    for (;;) {
      if (this.#scanFrom === 0) this.#pending = this.#pending.replace(/^\s+/, '');
      if (this.#pending === '') break;
      const fenced = startsWithFence(this.#pending, final);
      if (fenced === undefined) break;
      let end = fenced ? this.#codeBlockEnd(final) : this.#sentenceEnd(final);
      if (end === NEED_MORE_TEXT) break;
      if (end === NOT_A_BOUNDARY) {
        if (!final) break;
        end = this.#pending.length;
      }
      const raw = this.#pending.slice(0, end);
      this.#pending = this.#pending.slice(end);
      this.#scanFrom = 0;
      const sentence = fenced ? this.#sentence(raw.trim(), '', { code: true }) : this.#proseSentence(raw);
      if (sentence) sentences.push(sentence);
    }
    return sentences;
  }

  /** End of the fenced block that `#pending` starts with: after its closing fence line. */
  #codeBlockEnd(final: boolean): number {
    const text = this.#pending;
    const fence = /^(`{3,}|~{3,})/.exec(text)![0];
    let lineStart = this.#scanFrom > 0 ? this.#scanFrom : text.indexOf('\n') + 1;
    if (lineStart === 0) return final ? text.length : NEED_MORE_TEXT;
    while (lineStart <= text.length) {
      const newline = text.indexOf('\n', lineStart);
      if (newline === -1 && !final) {
        this.#scanFrom = lineStart;
        return NEED_MORE_TEXT;
      }
      const lineEnd = newline === -1 ? text.length : newline;
      const line = text.slice(lineStart, lineEnd).trim();
      if (/^([`~])\1*$/.test(line) && line.startsWith(fence)) return lineEnd;
      if (newline === -1) break;
      lineStart = newline + 1;
    }
    return text.length; // unclosed block at the end of the reply
  }

  /** End (exclusive) of the sentence `#pending` starts with, or why there is none yet. */
  #sentenceEnd(final: boolean): number {
    const text = this.#pending;
    for (let i = this.#scanFrom; i < text.length; i++) {
      const end = this.#boundaryAt(i, final);
      if (end === NEED_MORE_TEXT) {
        this.#scanFrom = i;
        return NEED_MORE_TEXT;
      }
      if (end !== NOT_A_BOUNDARY) return end;
    }
    this.#scanFrom = text.length;
    return NOT_A_BOUNDARY;
  }

  #boundaryAt(i: number, final: boolean): number {
    const text = this.#pending;
    const char = text[i];
    if (char === '\n' || char === '\r') return i + 1;
    if (CJK_TERMINATORS.has(char)) {
      const end = trailingMarksEnd(text, i + 1);
      return end === text.length && !final ? NEED_MORE_TEXT : end;
    }
    if (ASCII_TERMINATORS.has(char)) {
      const end = trailingMarksEnd(text, i + 1);
      if (end === text.length) {
        if (!final) return NEED_MORE_TEXT;
      } else {
        const next = text[end];
        if (next === '[') {
          const tag = tagState(text.slice(end), final);
          if (tag === 'partial' && !final) return NEED_MORE_TEXT;
          if (tag !== 'tag') return NOT_A_BOUNDARY;
        } else if (!/\s/.test(next) && !CJK_LETTER.test(text.slice(end, end + 2))) {
          return NOT_A_BOUNDARY; // 3.14, example.com, e.g.x
        }
      }
      if (char === '.' && this.#dotIsNotAnEnd(i)) return NOT_A_BOUNDARY;
      return end;
    }
    if (CJK_COMMAS.has(char) || char === ',') {
      if (char === ',') {
        if (i + 1 === text.length) return final ? i + 1 : NEED_MORE_TEXT;
        if (!/\s/.test(text[i + 1])) return NOT_A_BOUNDARY; // 1,000
      }
      return i + 1 >= this.#minCommaLength ? i + 1 : NOT_A_BOUNDARY;
    }
    return NOT_A_BOUNDARY;
  }

  /** `Mr.`, `e.g.`, an initial (`J. K.`) or a list number (`1.` at the start of a line). */
  #dotIsNotAnEnd(dot: number): boolean {
    const text = this.#pending;
    if (/^\d{1,3}$/.test(text.slice(0, dot))) return true;
    let start = dot;
    while (start > 0 && /[A-Za-z.]/.test(text[start - 1])) start--;
    const word = text.slice(start, dot);
    if (this.#abbreviations.has(word.toLowerCase())) return true;
    // A single capital is an initial; "I" is left out because "... do I." ends sentences.
    return /^[A-HJ-Z]$/.test(word);
  }

  #proseSentence(raw: string): Sentence | undefined {
    const { emotion, motion, rest } = parseLeadingTags(raw.trim(), this.#emotionNames);
    const text = rest.trim();
    if (text === '') {
      // A line holding only tags: they belong to what is said next.
      if (emotion !== undefined) this.#carriedEmotion = emotion;
      if (motion !== undefined) this.#carriedMotion = motion;
      return undefined;
    }
    return this.#sentence(text, toSpeechText(text), { emotion, motion });
  }

  #sentence(text: string, speech: string, extra: { emotion?: string; motion?: string; code?: true }): Sentence {
    const sentence: Sentence = { text, speech, index: this.#nextIndex++ };
    if (extra.code) {
      sentence.code = true; // tags wait for the next spoken sentence
    } else {
      const emotion = extra.emotion ?? this.#carriedEmotion;
      const motion = extra.motion ?? this.#carriedMotion;
      if (emotion !== undefined) sentence.emotion = emotion;
      if (motion !== undefined) sentence.motion = motion;
      this.#carriedEmotion = undefined;
      this.#carriedMotion = undefined;
    }
    return sentence;
  }
}

/** Splits a complete text at once (same result as streaming it through a SentenceSplitter). */
export function splitSentences(text: string, options?: SentenceSplitterOptions): Sentence[] {
  const splitter = new SentenceSplitter(options);
  return [...splitter.push(text), ...splitter.flush()];
}

/**
 * Reads the tags at the start of `text`. Returns the first emotion and the first motion found and
 * the text after the tags. With `emotionNames`, a bare `[name]` outside the list ends the tag run
 * and stays in the text.
 */
export function parseLeadingTags(
  text: string,
  emotionNames?: ReadonlySet<string>,
): { emotion?: string; motion?: string; rest: string } {
  let rest = text;
  let emotion: string | undefined;
  let motion: string | undefined;
  for (let match = LEADING_TAG.exec(rest); match; match = LEADING_TAG.exec(rest)) {
    const kind = match[1]?.toLowerCase();
    const name = match[2].toLowerCase();
    if (kind === 'motion' || kind === 'gesture') {
      motion ??= name;
    } else {
      if (kind === undefined && emotionNames && !emotionNames.has(name)) break;
      emotion ??= name;
    }
    rest = rest.slice(match[0].length);
  }
  return { emotion, motion, rest };
}

/**
 * Cleans display text for a speech engine. Also usable on a whole reply: fenced code blocks are
 * dropped. Links keep their label and inline code its content (`npm` is speakable); images, bare
 * URLs, HTML tags, emoji, emotion tags, `*actions*` and full-width `（stage directions）` are
 * removed (ASCII parentheses are kept: in English they are usually content). Returns '' when no
 * letter or digit is left.
 */
export function toSpeechText(text: string): string {
  let speech = removeFencedBlocks(text)
    .replace(/!\[[^\]]*\]\([^)]*\)/g, ' ')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<https?:\/\/[^>]*>/g, ' ')
    .replace(/https?:\/\/[^\s)\]」』）]+/g, ' ')
    .replace(/<\/?[A-Za-z][^>]*>/g, ' ')
    .replace(/`+([^`]*)`+/g, '$1')
    .replace(/^[ \t]*#{1,6}[ \t]+/gm, '')
    .replace(/^[ \t]*>+[ \t]?/gm, '')
    .replace(/^[ \t]*(?:[-*+][ \t]+|[•・][ \t]*|\d{1,3}[.)][ \t]+)/gm, '')
    .replace(/^[ \t]*([-*_=])(?:[ \t]*\1){2,}[ \t]*$/gm, ' ')
    .replace(/\*\*(.+?)\*\*/g, '$1')
    .replace(/__(.+?)__/g, '$1')
    .replace(/~~(.+?)~~/g, '$1')
    .replace(/[*＊][^*＊\n]+[*＊]/g, ' ')
    .replace(/(?<![\p{L}\p{N}])_([^_\n]+)_(?![\p{L}\p{N}])/gu, '$1')
    .replace(/（[^（）]*）/g, ' ')
    .replace(ANY_TAG, ' ')
    .replace(EMOJI_PIECES, '')
    .replace(/[*|]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!/[\p{L}\p{N}]/u.test(speech)) speech = '';
  return speech;
}

/**
 * Whether `text` starts a fenced code block; `undefined` when it is too short to tell yet
 * (`` ` `` or ``` `` ``` at the end of a chunk).
 */
function startsWithFence(text: string, final: boolean): boolean | undefined {
  const first = text[0];
  if (!FENCE_CHARS.has(first)) return false;
  let run = 1;
  while (run < 3 && text[run] === first) run++;
  if (run === 3) return true;
  return run === text.length && !final ? undefined : false;
}

/** Index after the marks, closing brackets and emoji that follow a terminator at `from - 1`. */
function trailingMarksEnd(text: string, from: number): number {
  let end = from;
  while (end < text.length) {
    if (TRAILING_MARKS.has(text[end])) {
      end++;
      continue;
    }
    const codePoint = String.fromCodePoint(text.codePointAt(end)!);
    if (!EMOJI_PIECE.test(codePoint)) break;
    end += codePoint.length;
  }
  return end;
}

/** Whether `text` starts with a tag; 'partial' while more text could still make or unmake one. */
function tagState(text: string, final: boolean): 'tag' | 'partial' | 'none' {
  const match = LEADING_TAG.exec(text);
  // `[happy]` at the very end could still become the link `[happy](url)`.
  if (match) return match[0].length === text.length && !final ? 'partial' : 'tag';
  return PARTIAL_TAG.test(text) && !final ? 'partial' : 'none';
}

/** Drops fenced code blocks (fence lines included); an unclosed block runs to the end. */
function removeFencedBlocks(text: string): string {
  if (!/[`~]{3}/.test(text)) return text;
  const kept: string[] = [];
  let fence: string | undefined;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (fence === undefined) {
      const opening = /^(`{3,}|~{3,})/.exec(trimmed);
      if (opening) fence = opening[1];
      else kept.push(line);
    } else if (/^([`~])\1*$/.test(trimmed) && trimmed.startsWith(fence)) {
      fence = undefined;
    }
  }
  return kept.join('\n');
}
