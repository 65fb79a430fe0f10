/**
 * Completion inside placeholders: function names with their signatures, `input`, `var.` keys,
 * prompt names as `llm('...` first argument and RAG collections as `rag('...`'s.
 */
import type { Completion, CompletionContext, CompletionResult } from '@codemirror/autocomplete';
import { FUNCTION_NAMES, functionDoc, signature } from './functions';
import { placeholderAt } from './language';

export interface CompletionLists {
  vars?: readonly string[];
  prompts?: readonly string[];
  collections?: readonly string[];
}

const WORDS: Completion[] = [
  { label: 'input', type: 'variable', detail: 'the user input' },
  { label: 'var', type: 'keyword', detail: 'var.key' },
  ...['True', 'False', 'None'].map((label) => ({ label, type: 'constant' })),
  ...['and', 'or', 'not'].map((label) => ({ label, type: 'keyword' })),
];

function quotedNames(names: readonly string[] | undefined, quote: string, type: string): Completion[] {
  return (names ?? []).map((name) => ({ label: name, type, apply: `${name}${quote}` }));
}

export function instructionCompletions(lists: () => CompletionLists, lang: () => 'en' | 'ja') {
  return (context: CompletionContext): CompletionResult | null => {
    const { state, pos } = context;
    const text = state.doc.sliceString(0, pos);
    const placeholder = placeholderAt(text, pos);
    if (!placeholder) return null;
    const expression = text.slice(placeholder.start + 1);

    const key = /var\.([\p{L}\p{N}_]*)$/u.exec(expression) ?? /var\s*[[(]\s*(['"])([^'"]*)$/u.exec(expression);
    if (key) {
      const typed = key[2] ?? key[1];
      const quote = key[2] === undefined ? '' : key[1];
      return {
        from: pos - typed.length,
        options: (lists().vars ?? []).map((name) => ({ label: name, type: 'property', apply: quote ? `${name}${quote}` : name })),
        validFor: /^[^'"]*$/,
      };
    }
    const argument = /\b(llm|rag)\(\s*(['"])([^'"]*)$/.exec(expression);
    if (argument) {
      const [, fn, quote, typed] = argument;
      const options = fn === 'llm' ? quotedNames(lists().prompts, quote, 'text') : quotedNames(lists().collections, quote, 'namespace');
      return { from: pos - typed.length, options, validFor: /^[^'"]*$/ };
    }
    const word = context.matchBefore(/[\p{L}_][\p{L}\p{N}_]*/u);
    const justOpened = /\{\s*$/.test(text);
    if (!word && !context.explicit && !justOpened) return null;
    const lng = lang();
    return {
      from: word ? word.from : pos,
      options: [
        ...FUNCTION_NAMES.filter((name) => name !== 'var').map((name) => ({
          label: name,
          type: 'function',
          detail: signature(name),
          info: functionDoc(name, lng),
          apply: `${name}(`,
          boost: 1,
        })),
        ...WORDS,
      ],
      validFor: /^[\p{L}\p{N}_]*$/u,
    };
  };
}
