import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SentenceSplitter, parseLeadingTags, splitSentences, toSpeechText, type Sentence } from '../../src/http/speech.js';

const texts = (sentences: Sentence[]) => sentences.map((s) => s.text);

/** Streams `text` in the given pieces and collects every sentence, flush included. */
function streamed(pieces: string[], options?: ConstructorParameters<typeof SentenceSplitter>[0]): Sentence[] {
  const splitter = new SentenceSplitter(options);
  const out = pieces.flatMap((piece) => splitter.push(piece));
  return [...out, ...splitter.flush()];
}

describe('SentenceSplitter boundaries', () => {
  it('splits Japanese at 。！？ and keeps repeated marks together', () => {
    expect(texts(splitSentences('こんにちは！今日はいい天気ですね。本当？！明日は雨です'))).toEqual([
      'こんにちは！', '今日はいい天気ですね。', '本当？！', '明日は雨です',
    ]);
  });

  it('keeps closing quotes and brackets with their sentence', () => {
    expect(texts(splitSentences('「こんにちは。」と言った。『はい！』（笑）。次です'))).toEqual([
      '「こんにちは。」', 'と言った。', '『はい！』', '（笑）。', '次です',
    ]);
    expect(texts(splitSentences('He said "Stop!" Then he left (quickly.) Bye'))).toEqual([
      'He said "Stop!"', 'Then he left (quickly.)', 'Bye',
    ]);
  });

  it('splits English at .!? followed by whitespace or the end', () => {
    expect(texts(splitSentences('Hello there. How are you? Great!'))).toEqual([
      'Hello there.', 'How are you?', 'Great!',
    ]);
  });

  it('never splits inside a number, a domain or after abbreviations and initials', () => {
    expect(texts(splitSentences('Pi is about 3.14 and e is 2.718. Visit example.com now.'))).toEqual([
      'Pi is about 3.14 and e is 2.718.', 'Visit example.com now.',
    ]);
    expect(texts(splitSentences('Mr. Smith met Dr. Who, e.g. at St. Ives. J. K. Rowling wrote it.'))).toEqual([
      'Mr. Smith met Dr. Who, e.g. at St. Ives.', 'J. K. Rowling wrote it.',
    ]);
    expect(texts(splitSentences('So do I. Then we left.'))).toEqual(['So do I.', 'Then we left.']);
  });

  it('does not treat a list number as a sentence end but does split after a number in a sentence', () => {
    expect(texts(splitSentences('1. Buy milk\n2. Walk the dog'))).toEqual(['1. Buy milk', '2. Walk the dog']);
    expect(texts(splitSentences('The answer is 42. Next question.'))).toEqual(['The answer is 42.', 'Next question.']);
  });

  it('splits ASCII !? directly followed by Japanese text', () => {
    expect(texts(splitSentences('すごい!本当?うん'))).toEqual(['すごい!', '本当?', 'うん']);
  });

  it('splits at newlines and drops blank lines', () => {
    expect(texts(splitSentences('first line\n\n  second line\r\nthird'))).toEqual(['first line', 'second line', 'third']);
  });

  it('splits at 、 and , only once the sentence reaches minCommaLength', () => {
    const short = 'はい、そうです、ありがとう。';
    expect(texts(splitSentences(short))).toEqual([short]);
    const long = 'この文はとても長いので読点のところで区切られるはずです、その後の部分も続きます。';
    expect(texts(splitSentences(long, { minCommaLength: 20 }))).toEqual([
      'この文はとても長いので読点のところで区切られるはずです、', 'その後の部分も続きます。',
    ]);
    expect(texts(splitSentences('One, two, three, four.', { minCommaLength: 8 }))).toEqual([
      'One, two,', 'three, four.',
    ]);
    expect(texts(splitSentences('It costs 1,000,000 yen, which is a lot.', { minCommaLength: 5 }))).toEqual([
      'It costs 1,000,000 yen,', 'which is a lot.',
    ]);
  });

  it('emits a fenced code block as one sentence with empty speech', () => {
    const sentences = splitSentences('Here:\n```ts\nconst a = 1. ;\n// Done. Really!\n```\nAfter it.');
    expect(sentences.map((s) => [s.text, s.speech, s.code])).toEqual([
      ['Here:', 'Here:', undefined],
      ['```ts\nconst a = 1. ;\n// Done. Really!\n```', '', true],
      ['After it.', 'After it.', undefined],
    ]);
  });

  it('runs an unclosed code block to the end of the reply', () => {
    const sentences = splitSentences('~~~\nline one.\nline two.');
    expect(sentences).toEqual([{ text: '~~~\nline one.\nline two.', speech: '', code: true, index: 0 }]);
  });

  it('numbers sentences from 0 and restarts after flush', () => {
    const splitter = new SentenceSplitter();
    expect(splitter.push('One. Two. Three').map((s) => s.index)).toEqual([0, 1]);
    expect(splitter.flush().map((s) => s.index)).toEqual([2]);
    expect(splitter.push('Again. ').map((s) => [s.index, s.text])).toEqual([[0, 'Again.']]);
  });

  it('waits for lookahead before deciding', () => {
    const splitter = new SentenceSplitter();
    expect(splitter.push('Pi is 3.')).toEqual([]);
    expect(splitter.push('14. Yes')).toEqual([{ text: 'Pi is 3.14.', speech: 'Pi is 3.14.', index: 0 }]);
    expect(splitter.push('！')).toEqual([]); // more marks or a closing bracket may follow
    expect(texts(splitter.push('」と'))).toEqual(['Yes！」']);
    expect(texts(splitter.flush())).toEqual(['と']);
  });

  it('holds back half of a surrogate pair split across chunks', () => {
    const text = 'Nice!😊 Next';
    const sentences = streamed([text.slice(0, 6), text.slice(6)]);
    expect(texts(sentences)).toEqual(['Nice!😊', 'Next']);
  });

  it('rejects a bad minCommaLength', () => {
    expect(() => new SentenceSplitter({ minCommaLength: 0 })).toThrow('Expected an integer >= 1 for minCommaLength but received 0');
  });
});

describe('SentenceSplitter emotion tags', () => {
  it('parses the leading tag of the reply and of each sentence', () => {
    const sentences = splitSentences('[happy]こんにちは！[sad]でも雨です。普通の文。');
    expect(sentences.map((s) => [s.text, s.emotion])).toEqual([
      ['こんにちは！', 'happy'], ['でも雨です。', 'sad'], ['普通の文。', undefined],
    ]);
  });

  it('reads [emotion:x] and [motion:x] and removes tags from speech', () => {
    const [first] = splitSentences('[emotion:Happy] [motion:wave] Hello [relaxed]there!');
    expect(first).toMatchObject({ text: 'Hello [relaxed]there!', speech: 'Hello there!', emotion: 'happy', motion: 'wave' });
  });

  it('splits before a tag that follows an ASCII terminator', () => {
    expect(splitSentences('Great![happy]See you.').map((s) => [s.text, s.emotion])).toEqual([
      ['Great!', undefined], ['See you.', 'happy'],
    ]);
  });

  it('passes the tags of a tag-only line to the next sentence', () => {
    const sentences = splitSentences('[surprised]\n\nえっ、本当？');
    expect(sentences).toEqual([{ text: 'えっ、本当？', speech: 'えっ、本当？', emotion: 'surprised', index: 0 }]);
  });

  it('emits tags left at the end as an empty sentence', () => {
    expect(splitSentences('はい。[happy]')).toEqual([
      { text: 'はい。', speech: 'はい。', index: 0 },
      { text: '', speech: '', emotion: 'happy', index: 1 },
    ]);
  });

  it('does not read a markdown link as a tag', () => {
    const [first] = splitSentences('[docs](https://example.com) are here.');
    expect(first.emotion).toBeUndefined();
    expect(first.speech).toBe('docs are here.');
  });

  it('accepts only the configured bare emotion names', () => {
    const options = { emotionNames: ['happy', 'sad'] };
    expect(splitSentences('[happy]Yes.', options)[0].emotion).toBe('happy');
    expect(splitSentences('[note]Yes.', options)).toEqual([{ text: '[note]Yes.', speech: 'Yes.', index: 0 }]);
    expect(parseLeadingTags('[emotion:angry]No', new Set(['happy']))).toEqual({ emotion: 'angry', motion: undefined, rest: 'No' });
  });
});

describe('toSpeechText', () => {
  it.each([
    ['**bold** and __strong__ and _it_ and ~~gone~~', 'bold and strong and it and gone'],
    ['Run `npm test` now', 'Run npm test now'],
    ['## Heading', 'Heading'],
    ['- bullet item', 'bullet item'],
    ['・りんご', 'りんご'],
    ['> quoted text', 'quoted text'],
    ['See [the docs](https://example.com/a.b) please', 'See the docs please'],
    ['Look ![a cat](cat.png) here', 'Look here'],
    ['Visit https://example.com/page now', 'Visit now'],
    ['Line<br>break', 'Line break'],
    ['嬉しい😊🎉👍🏽 ありがとう❤️', '嬉しい ありがとう'],
    ['Flags 🇯🇵 and family 👨‍👩‍👧 too', 'Flags and family too'],
    ['*smiles warmly* Hello there', 'Hello there'],
    ['こんにちは（にっこり）元気？', 'こんにちは 元気？'],
    ['Hello (world)', 'Hello (world)'],
    ['  lots   of\n\tspace  ', 'lots of space'],
    ['snake_case_name stays', 'snake_case_name stays'],
    ['😀！', ''],
    ['---', ''],
    ['| a | b |', 'a b'],
  ])('%j -> %j', (input, expected) => {
    expect(toSpeechText(input)).toBe(expected);
  });

  it('drops fenced code blocks from a whole reply', () => {
    expect(toSpeechText('Before.\n```\ncode();\n```\nAfter.')).toBe('Before. After.');
    expect(toSpeechText('Before.\n```js\nunclosed();')).toBe('Before.');
  });
});

describe('SentenceSplitter streaming equals one-shot', () => {
  // Pieces chosen to hit every rule: terminators, numbers, abbreviations, commas, tags, code, emoji.
  const fragment = fc.constantFrom(
    'こんにちは', '。', '！', '？', '、', '」', '「', '）', '（笑）', 'Hello', ' ', '  ', '.', '!', '?', ',', '3', '14',
    'Mr', 'e.g', 'J', '\n', '\r\n', '```', '```ts\n', 'code()', '~~~', '[happy]', '[emotion:sad]', '[motion:wave]',
    '[link](http://a.b)', '**', '*', '_', '`', '😊', '👨‍👩‍👧', '🇯🇵', 'x', '1,000', '…', '"', 'ー',
  );
  const text = fc.array(fragment, { maxLength: 40 }).map((parts) => parts.join(''));

  it('gives the same sentences for any chunking', () => {
    fc.assert(
      fc.property(text, fc.array(fc.nat(), { maxLength: 12 }), fc.integer({ min: 1, max: 30 }), (input, cuts, minCommaLength) => {
        const points = [...new Set(cuts.map((cut) => cut % (input.length + 1)))].sort((a, b) => a - b);
        const pieces = [0, ...points].map((start, i) => input.slice(start, [...points, input.length][i]));
        expect(streamed(pieces, { minCommaLength })).toEqual(splitSentences(input, { minCommaLength }));
      }),
      { numRuns: 2000 },
    );
  });

  it('gives the same sentences when fed one UTF-16 unit at a time', () => {
    fc.assert(
      fc.property(text, (input) => {
        expect(streamed([...input.split('')])).toEqual(splitSentences(input));
      }),
      { numRuns: 300 },
    );
  });

  it('loses no display text: sentences joined equal the input without whitespace and tags', () => {
    const untagged = fc.array(fragment.filter((f) => !f.startsWith('[') || f.startsWith('[link')), { maxLength: 40 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(untagged, (input) => {
        const strip = (s: string) => s.replace(/\s+/g, '');
        expect(strip(texts(splitSentences(input)).join(''))).toBe(strip(input));
      }),
      { numRuns: 1000 },
    );
  });
});
