/** The instruction functions as the editor offers them: signature and what each does, in both languages. */
import { INSTRUCTION_FUNCTIONS, type InstructionFunctionName } from '../../../src/prompt/instruction/tree';

const DOCS: Record<InstructionFunctionName, { en: string; ja: string }> = {
  comment: { en: 'Outputs nothing: a comment inside the prompt.', ja: '何も出力しません(プロンプト内のコメント)。' },
  test: { en: 'Outputs s only in test mode (never through the WebAPI).', ja: 'テストモードのときだけ s を出力します(WebAPI経由では出力しません)。' },
  msgf: { en: 'Turns "user: ..." / "ai: ..." lines or a list into chat messages.', ja: '「user: ...」「ai: ...」の行やリストをチャットメッセージにします。' },
  iif: { en: 't if cond is true, else f; only the chosen branch runs.', ja: 'cond が真なら t、偽なら f。選ばれた側だけ評価されます。' },
  rag: { en: 'Searches RAG collection dir for query; outputs the top k chunks.', ja: 'RAGコレクション dir を query で検索し、上位 k 件のチャンクを出力します。' },
  llm: { en: 'Runs another saved prompt and outputs its generated text.', ja: '別の保存済みプロンプトを実行し、生成されたテキストを出力します。' },
  var: { en: 'The value saved under key (also var.key).', ja: 'key に保存された値(var.key とも書けます)。' },
  msg: { en: 'The newest limit messages of the log (0 = all), as chat messages.', ja: 'ログの最新 limit 件(0 = 全件)をチャットメッセージとして。' },
  msgcount: { en: 'The number of messages in the log.', ja: 'ログのメッセージ数。' },
};

function literal(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}

/** `rag(dir, query, k=1)` */
export function signature(name: InstructionFunctionName): string {
  const spec = INSTRUCTION_FUNCTIONS[name];
  const params: string[] = spec.params.map((p) => ('default' in p ? `${p.name}=${literal(p.default)}` : p.name));
  if ('extraKeywords' in spec && spec.extraKeywords) params.push('**options');
  return `${name}(${params.join(', ')})`;
}

export function functionDoc(name: InstructionFunctionName, lang: 'en' | 'ja'): string {
  return DOCS[name][lang];
}

export const FUNCTION_NAMES = Object.keys(INSTRUCTION_FUNCTIONS) as InstructionFunctionName[];
