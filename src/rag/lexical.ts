/**
 * BM25 over terms that work without a word segmenter: Japanese/Chinese runs are indexed as
 * character uni-grams and bi-grams, other scripts as words. Lives in memory; built from the
 * chunk store when a collection is first searched.
 */

/**
 * A term. CJK uni-grams and bi-grams of the Basic Multilingual Plane are small integers (so
 * maps key them without allocating); words and rare astral ideographs are strings.
 */
export type TermKey = number | string;

/** CJK blocks written without spaces, packed one after another into a compact code space. */
const CJK_BLOCKS: readonly (readonly [number, number])[] = [
  [0x3005, 0x3007], // 々 〆 〇
  [0x3040, 0x30ff], // hiragana, katakana, ー
  [0x31f0, 0x31ff], // katakana phonetic extensions
  [0x3400, 0x4dbf], // CJK extension A
  [0x4e00, 0x9fff], // CJK unified ideographs
  [0xf900, 0xfaff], // CJK compatibility ideographs
];
const CJK_BLOCK_BASES = CJK_BLOCKS.reduce<number[]>((bases, [start, end], i) => {
  bases.push(i === 0 ? 0 : bases[i - 1] + CJK_BLOCKS[i - 1][1] - CJK_BLOCKS[i - 1][0] + 1);
  return bases;
}, []);
/** Size of the compact CJK code space; bi-gram keys start above it. */
const CJK_CODES = CJK_BLOCK_BASES[CJK_BLOCKS.length - 1] + CJK_BLOCKS[CJK_BLOCKS.length - 1][1] - CJK_BLOCKS[CJK_BLOCKS.length - 1][0] + 1;

/** Compact code per BMP code point (-1: not CJK), looked up once per character. */
const CJK_CODE_TABLE = (() => {
  const table = new Int32Array(0x10000).fill(-1);
  CJK_BLOCKS.forEach(([start, end], i) => {
    for (let cp = start; cp <= end; cp++) table[cp] = CJK_BLOCK_BASES[i] + cp - start;
  });
  return table;
})();

/** Compact code of a BMP CJK character, -2 for an astral ideograph, -1 for anything else. */
function cjkCode(cp: number): number {
  if (cp < 0x10000) return CJK_CODE_TABLE[cp];
  return cp >= 0x20000 && cp <= 0x3134f ? -2 : -1;
}

const LETTER_OR_NUMBER = /^[\p{L}\p{N}\p{M}]$/u;

function isWordChar(cp: number): boolean {
  if (cp < 0x80) return (cp >= 0x61 && cp <= 0x7a) || (cp >= 0x30 && cp <= 0x39) || cp === 0x5f;
  return LETTER_OR_NUMBER.test(String.fromCodePoint(cp));
}

/**
 * Calls `emit` for each term of a text (NFKC, lower case). `forQuery` leaves out the uni-grams
 * of CJK runs longer than one character: their bi-grams say more, and common single
 * characters would otherwise touch nearly every chunk.
 */
export function forEachTerm(text: string, forQuery: boolean, emit: (term: TermKey) => void): void {
  const normalised = text.normalize('NFKC').toLowerCase();
  const length = normalised.length;
  let i = 0;
  while (i < length) {
    const cp = normalised.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    if (cjkCode(cp) !== -1) {
      let previousCode = -1;
      let previousStart = -1;
      let j = i;
      while (j < length) {
        const c = normalised.codePointAt(j)!;
        const code = cjkCode(c);
        if (code === -1) break;
        const charWidth = c > 0xffff ? 2 : 1;
        // Strings only for astral ideographs: slicing every character would dominate the cost.
        if (!forQuery) emit(code >= 0 ? code : normalised.slice(j, j + charWidth));
        if (previousStart >= 0) {
          emit(previousCode >= 0 && code >= 0 ? CJK_CODES + previousCode * CJK_CODES + code : normalised.slice(previousStart, j + charWidth));
        }
        previousCode = code;
        previousStart = j;
        j += charWidth;
      }
      if (forQuery && previousStart === i) emit(previousCode >= 0 ? previousCode : normalised.slice(i, j));
      i = j;
    } else if (isWordChar(cp)) {
      let j = i + width;
      while (j < length) {
        const c = normalised.codePointAt(j)!;
        if (cjkCode(c) !== -1 || !isWordChar(c)) break;
        j += c > 0xffff ? 2 : 1;
      }
      emit(normalised.slice(i, j));
      i = j;
    } else {
      i += width;
    }
  }
}

/**
 * Term id by integer key: open addressing with linear probing over typed arrays, several times
 * faster than a Map for the tens of millions of lookups an index build makes.
 */
class IntegerTermTable {
  #keys: Int32Array;
  #values: Int32Array;
  #size = 0;

  /** `capacity`: a power of two; the table doubles when half full. */
  constructor(capacity = 1 << 16) {
    this.#keys = new Int32Array(capacity).fill(-1);
    this.#values = new Int32Array(capacity);
  }

  get(key: number): number {
    const mask = this.#keys.length - 1;
    for (let slot = Math.imul(key, 0x9e3779b1) >>> 0 & mask; ; slot = (slot + 1) & mask) {
      const found = this.#keys[slot];
      if (found === key) return this.#values[slot];
      if (found === -1) return -1;
    }
  }

  set(key: number, value: number): void {
    if ((this.#size + 1) * 2 > this.#keys.length) this.#grow();
    this.#insert(key, value);
    this.#size++;
  }

  #insert(key: number, value: number): void {
    const mask = this.#keys.length - 1;
    let slot = Math.imul(key, 0x9e3779b1) >>> 0 & mask;
    while (this.#keys[slot] !== -1) slot = (slot + 1) & mask;
    this.#keys[slot] = key;
    this.#values[slot] = value;
  }

  #grow(): void {
    const keys = this.#keys;
    const values = this.#values;
    this.#keys = new Int32Array(keys.length * 2).fill(-1);
    this.#values = new Int32Array(keys.length * 2);
    for (let i = 0; i < keys.length; i++) if (keys[i] !== -1) this.#insert(keys[i], values[i]);
  }
}

/**
 * The terms of some documents, counted. Per document, `numbers` holds its length in terms, the
 * count of integer terms followed by (term, frequency) pairs, then the count of string terms
 * followed by their frequencies; the string terms themselves are in `strings`, in order.
 */
export interface CountedTerms {
  numbers: Int32Array;
  strings: string[];
}

/** Counts the terms of each text, for {@link LexicalIndex.addCounted}. */
export function countTerms(texts: readonly string[]): CountedTerms {
  let numbers = new Int32Array(1024);
  let used = 0;
  const push = (value: number) => {
    if (used === numbers.length) numbers = growInt32(numbers, numbers.length * 2);
    numbers[used++] = value;
  };
  // Terms get a slot each (typed arrays, as in the index): counting is most of an index build.
  const integerSlots = new IntegerTermTable(1024);
  const stringSlots = new Map<string, number>();
  const slotTerms: TermKey[] = [];
  let frequency = new Int32Array(512);
  const strings: string[] = [];
  const integerTouched: number[] = [];
  const stringTouched: number[] = [];
  for (const text of texts) {
    let length = 0;
    forEachTerm(text, false, (term) => {
      length++;
      let slot = typeof term === 'number' ? integerSlots.get(term) : stringSlots.get(term) ?? -1;
      if (slot < 0) {
        slot = slotTerms.length;
        slotTerms.push(term);
        if (typeof term === 'number') integerSlots.set(term, slot);
        else stringSlots.set(term, slot);
        if (slot >= frequency.length) frequency = growInt32(frequency, frequency.length * 2);
      }
      if (frequency[slot]++ === 0) (typeof term === 'number' ? integerTouched : stringTouched).push(slot);
    });
    push(length);
    push(integerTouched.length);
    for (const slot of integerTouched) {
      push(slotTerms[slot] as number);
      push(frequency[slot]);
      frequency[slot] = 0;
    }
    push(stringTouched.length);
    for (const slot of stringTouched) {
      push(frequency[slot]);
      strings.push(slotTerms[slot] as string);
      frequency[slot] = 0;
    }
    integerTouched.length = 0;
    stringTouched.length = 0;
  }
  return { numbers: numbers.slice(0, used), strings };
}

export interface LexicalHit {
  id: number;
  score: number;
}

/** BM25 parameters (Robertson/Lucene defaults). */
const K1 = 1.2;
const B = 0.75;
/** Payload slots of a term's first postings block; each next block doubles, up to the maximum. */
const FIRST_BLOCK_SLOTS = 2;
const MAX_BLOCK_SLOTS = 1024;
/** A posting packs the document id (high 24 bits) and the term frequency (low 8 bits, capped). */
const MAX_DOCUMENT_ID = 0xffffff;
const MAX_STORED_FREQUENCY = 0xff;

/**
 * In-memory inverted index with BM25 ranking. Postings of all terms live in one pool of
 * linked blocks (4 bytes per posting), so a million distinct bi-grams do not cost a million
 * arrays. Documents are numbered by their chunk id; removed ones are skipped when ranking.
 */
export class LexicalIndex {
  #integerTermIds = new IntegerTermTable();
  #stringTermIds = new Map<string, number>();
  #termCount = 0;
  #pool = new Uint32Array(1 << 16);
  #poolUsed = 0;
  #head = new Int32Array(1024);
  #tail = new Int32Array(1024);
  #tailSlots = new Int32Array(1024);
  #tailFill = new Int32Array(1024);
  #documentFrequency = new Int32Array(1024);
  #documentLength = new Uint32Array(1024);
  /** Per document id: 0 never added, 1 live, 2 removed. */
  #state = new Uint8Array(1024);
  #liveCount = 0;
  #liveLength = 0;
  /** BM25 length normalisation per document; recomputed after the collection changed. */
  #lengthNorm = new Float32Array(0);
  #lengthNormStale = true;
  #scores = new Float32Array(0);
  #touched = new Int32Array(0);

  /** Number of live documents. */
  get size(): number {
    return this.#liveCount;
  }

  /** Indexes a document under `id`; ids are small non-negative integers, each used once. */
  add(id: number, text: string): void {
    this.addCounted([id], countTerms([text]));
  }

  /**
   * Indexes documents whose terms were counted by {@link countTerms} (on a worker thread: the
   * counting is the costly part), the n-th under `ids[n]`.
   */
  addCounted(ids: ArrayLike<number>, counted: CountedTerms): void {
    const { numbers, strings } = counted;
    let at = 0;
    let stringAt = 0;
    for (let n = 0; n < ids.length; n++) {
      const id = ids[n];
      if (!Number.isInteger(id) || id < 0 || id > MAX_DOCUMENT_ID) throw new RangeError(`Lexical document id out of range: ${id}`);
      this.#ensureDocumentCapacity(id + 1);
      if (this.#state[id] !== 0) throw new RangeError(`Lexical document id ${id} was already used`);
      const length = numbers[at++];
      const posting = (frequency: number) => ((id << 8) | Math.min(frequency, MAX_STORED_FREQUENCY)) >>> 0;
      for (let n = numbers[at++]; n > 0; n--, at += 2) this.#appendPosting(this.#termId(numbers[at]), posting(numbers[at + 1]));
      for (let n = numbers[at++]; n > 0; n--) this.#appendPosting(this.#termId(strings[stringAt++]), posting(numbers[at++]));
      this.#documentLength[id] = length;
      this.#state[id] = 1;
      this.#liveCount++;
      this.#liveLength += length;
      this.#lengthNormStale = true;
    }
  }

  /** Leaves a document out of all later searches. */
  remove(id: number): void {
    if (!(id >= 0 && id < this.#state.length) || this.#state[id] !== 1) return;
    this.#state[id] = 2;
    this.#liveCount--;
    this.#liveLength -= this.#documentLength[id];
    this.#lengthNormStale = true;
  }

  /** The best `limit` documents for a query, best first; empty when no term matches. */
  search(query: string, limit: number): LexicalHit[] {
    const queryTerms = new Map<number, number>();
    forEachTerm(query, true, (term) => {
      const termId = typeof term === 'number' ? this.#integerTermIds.get(term) : this.#stringTermIds.get(term) ?? -1;
      if (termId >= 0) queryTerms.set(termId, (queryTerms.get(termId) ?? 0) + 1);
    });
    if (queryTerms.size === 0 || this.#liveCount === 0 || limit <= 0) return [];
    const lengthNorm = this.#currentLengthNorm();
    const capacity = this.#documentLength.length;
    if (this.#scores.length < capacity) {
      this.#scores = new Float32Array(capacity);
      this.#touched = new Int32Array(capacity);
    }
    const scores = this.#scores;
    const touched = this.#touched;
    const state = this.#state;
    const pool = this.#pool;
    let touchedCount = 0;
    const documents = this.#liveCount;
    for (const [termId, queryFrequency] of queryTerms) {
      const df = this.#documentFrequency[termId];
      const weight = Math.log(1 + (documents - df + 0.5) / (df + 0.5)) * queryFrequency * (K1 + 1);
      // Walk the term's linked blocks; the last slot of a full block points to the next one.
      let block = this.#head[termId];
      let slots = FIRST_BLOCK_SLOTS;
      let remaining = df;
      while (remaining > 0) {
        const inBlock = remaining < slots ? remaining : slots;
        for (let i = block; i < block + inBlock; i++) {
          const posting = pool[i];
          const id = posting >>> 8;
          if (state[id] !== 1) continue;
          const frequency = posting & 0xff;
          if (scores[id] === 0) touched[touchedCount++] = id;
          scores[id] += (weight * frequency) / (frequency + lengthNorm[id]);
        }
        remaining -= inBlock;
        if (remaining > 0) {
          block = pool[block + slots];
          slots = Math.min(slots * 2, MAX_BLOCK_SLOTS);
        }
      }
    }
    const hits = topByScore(touched.subarray(0, touchedCount), scores, limit);
    for (let i = 0; i < touchedCount; i++) scores[touched[i]] = 0;
    return hits;
  }

  #currentLengthNorm(): Float32Array {
    if (this.#lengthNormStale || this.#lengthNorm.length !== this.#documentLength.length) {
      const averageLength = Math.max(this.#liveLength / Math.max(this.#liveCount, 1), 1);
      const norm = new Float32Array(this.#documentLength.length);
      for (let id = 0; id < norm.length; id++) norm[id] = K1 * (1 - B + (B * this.#documentLength[id]) / averageLength);
      this.#lengthNorm = norm;
      this.#lengthNormStale = false;
    }
    return this.#lengthNorm;
  }

  #termId(term: TermKey): number {
    let termId = typeof term === 'number' ? this.#integerTermIds.get(term) : this.#stringTermIds.get(term) ?? -1;
    if (termId < 0) {
      termId = this.#termCount++;
      if (typeof term === 'number') this.#integerTermIds.set(term, termId);
      else this.#stringTermIds.set(term, termId);
      if (termId >= this.#head.length) this.#growTermTables();
      this.#head[termId] = -1;
    }
    return termId;
  }

  #appendPosting(termId: number, posting: number): void {
    if (this.#head[termId] < 0) {
      const block = this.#allocateBlock(FIRST_BLOCK_SLOTS);
      this.#head[termId] = block;
      this.#tail[termId] = block;
      this.#tailSlots[termId] = FIRST_BLOCK_SLOTS;
      this.#tailFill[termId] = 0;
    } else if (this.#tailFill[termId] === this.#tailSlots[termId]) {
      const slots = Math.min(this.#tailSlots[termId] * 2, MAX_BLOCK_SLOTS);
      const block = this.#allocateBlock(slots);
      this.#pool[this.#tail[termId] + this.#tailSlots[termId]] = block;
      this.#tail[termId] = block;
      this.#tailSlots[termId] = slots;
      this.#tailFill[termId] = 0;
    }
    this.#pool[this.#tail[termId] + this.#tailFill[termId]] = posting;
    this.#tailFill[termId]++;
    this.#documentFrequency[termId]++;
  }

  /** Reserves `slots` payload slots plus one link slot in the pool. */
  #allocateBlock(slots: number): number {
    const needed = this.#poolUsed + slots + 1;
    if (needed > this.#pool.length) {
      const grown = new Uint32Array(Math.max(this.#pool.length * 2, needed));
      grown.set(this.#pool.subarray(0, this.#poolUsed));
      this.#pool = grown;
    }
    const block = this.#poolUsed;
    this.#poolUsed = needed;
    return block;
  }

  #growTermTables(): void {
    const size = this.#head.length * 2;
    this.#head = growInt32(this.#head, size);
    this.#tail = growInt32(this.#tail, size);
    this.#tailSlots = growInt32(this.#tailSlots, size);
    this.#tailFill = growInt32(this.#tailFill, size);
    this.#documentFrequency = growInt32(this.#documentFrequency, size);
  }

  #ensureDocumentCapacity(count: number): void {
    if (count <= this.#documentLength.length) return;
    const size = Math.max(this.#documentLength.length * 2, count);
    const lengths = new Uint32Array(size);
    lengths.set(this.#documentLength);
    this.#documentLength = lengths;
    const state = new Uint8Array(size);
    state.set(this.#state);
    this.#state = state;
  }
}

function growInt32(array: Int32Array<ArrayBuffer>, size: number): Int32Array<ArrayBuffer> {
  const grown = new Int32Array(size);
  grown.set(array);
  return grown;
}

/**
 * The `limit` best ids by score, best first (ties: lower id first). A min-heap of the best so
 * far means most ids cost one comparison.
 */
export function topByScore(ids: ArrayLike<number>, scores: ArrayLike<number>, limit: number): LexicalHit[] {
  const heapIds = new Int32Array(Math.max(0, limit));
  const heapScores = new Float64Array(Math.max(0, limit));
  let size = 0;
  // a is worse than b: lower score, or the same score and a higher id.
  const worse = (scoreA: number, idA: number, scoreB: number, idB: number) => scoreA < scoreB || (scoreA === scoreB && idA > idB);
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    const score = scores[id];
    let i: number;
    if (size < limit) {
      i = size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!worse(score, id, heapScores[parent], heapIds[parent])) break;
        heapIds[i] = heapIds[parent];
        heapScores[i] = heapScores[parent];
        i = parent;
      }
    } else if (limit > 0 && worse(heapScores[0], heapIds[0], score, id)) {
      i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= size) break;
        const right = left + 1;
        const child = right < size && worse(heapScores[right], heapIds[right], heapScores[left], heapIds[left]) ? right : left;
        if (!worse(heapScores[child], heapIds[child], score, id)) break;
        heapIds[i] = heapIds[child];
        heapScores[i] = heapScores[child];
        i = child;
      }
    } else {
      continue;
    }
    heapIds[i] = id;
    heapScores[i] = score;
  }
  const hits: LexicalHit[] = [];
  for (let i = 0; i < size; i++) hits.push({ id: heapIds[i], score: heapScores[i] });
  return hits.sort((a, b) => b.score - a.score || a.id - b.id);
}
