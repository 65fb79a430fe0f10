/**
 * The instruction editor: CodeMirror 6 with the instruction language's highlighting, completion
 * (functions with signatures, var keys, prompt names, RAG collections) and parse errors underlined
 * as you type, plus a line under the editor that says where. Mod-Enter calls `onRun`.
 */
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { HighlightStyle, bracketMatching, syntaxHighlighting } from '@codemirror/language';
import { EditorState } from '@codemirror/state';
import { EditorView, drawSelection, highlightActiveLine, keymap, lineNumbers, placeholder as placeholderText } from '@codemirror/view';
import { tags } from '@lezer/highlight';
import { memo } from 'preact/compat';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { defineMessages, language } from '../i18n';
import { instructionCompletions, type CompletionLists } from './completion';
import { instructionLanguage } from './language';
import { instructionLinter, type ParseProblem } from './lint';
import './editor.css';

export type { CompletionLists } from './completion';
export { parseProblem, type ParseProblem } from './lint';

const useT = defineMessages({
  en: { at: 'Line {line}, column {column}: {message}', hint: 'Write the instruction. { expression } runs a function, e.g. {var.name} or {iif(input, "yes", "no")}.' },
  ja: { at: '{line}行目 {column}列: {message}', hint: '指示を書きます。{ 式 } で関数を呼べます(例: {var.name}、{iif(input, "はい", "いいえ")})。' },
});

const highlight = HighlightStyle.define([
  { tag: tags.brace, color: 'var(--hl-brace)', fontWeight: '600' },
  { tag: tags.escape, color: 'var(--muted)' },
  { tag: tags.function(tags.variableName), color: 'var(--hl-function)', fontWeight: '600' },
  { tag: tags.special(tags.variableName), color: 'var(--hl-special)' },
  { tag: tags.keyword, color: 'var(--hl-keyword)' },
  { tag: tags.operatorKeyword, color: 'var(--hl-keyword)' },
  { tag: tags.propertyName, color: 'var(--hl-special)' },
  { tag: tags.string, color: 'var(--hl-string)' },
  { tag: tags.number, color: 'var(--hl-number)' },
  { tag: tags.atom, color: 'var(--hl-number)' },
  { tag: tags.invalid, color: 'var(--bad)', textDecoration: 'underline wavy' },
]);

/** The nonce the server put in the page for CodeMirror's run-time <style> elements (strict CSP). */
const styleNonce = document.querySelector<HTMLMetaElement>('meta[name="akachat-style-nonce"]')?.content ?? '';

/**
 * CodeMirror owns this element's children. It never re-renders: Preact would otherwise diff them
 * away on the next render (and the two then fight over the DOM forever).
 */
const EditorHost = memo(
  ({ mount }: { mount: (element: HTMLDivElement | null) => void }) => <div ref={mount} class="editor-host" data-testid="instruction-editor" />,
  () => true,
);

export interface InstructionEditorProps {
  value: string;
  onChange(value: string): void;
  /** Mod-Enter. */
  onRun?(): void;
  /** Names completion offers. */
  completions?: CompletionLists;
  /** The current parse problem, as the text changes. */
  onProblem?(problem: ParseProblem | undefined): void;
  label?: string;
}

export function InstructionEditor(props: InstructionEditorProps) {
  const t = useT();
  const host = useRef<HTMLDivElement | null>(null);
  const view = useRef<EditorView | undefined>(undefined);
  // Extensions are built once; they read the latest props through this ref.
  const latest = useRef(props);
  latest.current = props;
  const [problem, setProblem] = useState<ParseProblem>();
  // The text this editor last reported; a `value` equal to it is our own echo, not a new text.
  const reported = useRef(props.value);

  useEffect(() => {
    const state = EditorState.create({
      doc: latest.current.value,
      extensions: [
        lineNumbers(),
        history(),
        drawSelection(),
        highlightActiveLine(),
        bracketMatching(),
        closeBrackets(),
        instructionLanguage,
        syntaxHighlighting(highlight),
        autocompletion({ override: [instructionCompletions(() => latest.current.completions ?? {}, language)], icons: false }),
        instructionLinter((p) => {
          setProblem(p);
          latest.current.onProblem?.(p);
        }),
        keymap.of([
          { key: 'Mod-Enter', run: () => (latest.current.onRun?.(), true) },
          ...closeBracketsKeymap,
          ...completionKeymap,
          ...historyKeymap,
          indentWithTab,
          ...defaultKeymap,
        ]),
        EditorView.lineWrapping,
        EditorView.cspNonce.of(styleNonce),
        placeholderText(t('hint')),
        EditorView.contentAttributes.of({ 'aria-label': latest.current.label ?? 'Instruction' }),
        EditorView.updateListener.of((update) => {
          if (!update.docChanged) return;
          reported.current = update.state.doc.toString();
          latest.current.onChange(reported.current);
        }),
      ],
    });
    view.current = new EditorView({ state, parent: host.current! });
    return () => view.current?.destroy();
  }, []);

  // A value set from outside (a prompt loaded) replaces the text. Read from `latest`, not this
  // render's props: an effect of an older render can run after newer keystrokes, and replacing
  // the text with its stale value starts a ping-pong with onChange that never ends.
  useLayoutEffect(() => {
    const v = view.current;
    const value = latest.current.value;
    if (!v || value === reported.current) return;
    reported.current = value;
    if (v.state.doc.toString() !== value) v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [props.value]);

  return (
    <div class="instruction-editor">
      <EditorHost mount={(element) => (host.current = element)} />
      <p class={problem ? 'editor-problem error' : 'editor-problem'} data-testid="instruction-problem" aria-live="polite">
        {problem ? t('at', { line: problem.line, column: problem.column, message: problem.message }) : ''}
      </p>
    </div>
  );
}
