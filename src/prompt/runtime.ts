import type { LocalLlm } from '../llm/local.js';
import type { OpenAiLlm } from '../llm/openai.js';
import type { SpeechLog } from '../logs/speech-log.js';
import type { EvaluatedPart, InstructionTree } from './instruction/index.js';
import type { Segment } from './messages.js';
import type { PromptOptions, RawOptions } from './options.js';

/** What a Prompt needs from its surroundings (implemented by Akachat). */
export interface PromptRuntime {
  /** prompt -> preset (when `model` names one) -> overrides, default model filled in. */
  resolveOptions(options: PromptOptions, overrides?: RawOptions): Promise<PromptOptions>;
  evaluate(tree: InstructionTree, call: { input: string; fromWebApi: boolean; depth: number; signal?: AbortSignal; onPart?: (part: EvaluatedPart) => void }): Promise<Segment[]>;
  /** The BOS text of the model the options name (template mode's `{bos_token}`). */
  bosText(options: PromptOptions, signal?: AbortSignal): Promise<string>;
  location(provider: 'local' | 'openai'): LocalLlm | OpenAiLlm;
  readonly speechLog: SpeechLog;
}
