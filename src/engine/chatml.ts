/**
 * llama.cpp's fallback chat template for models that have none (chatml: CHATML_TEMPLATE_SRC in
 * vendor/llama.cpp/common/chat.cpp), rendered in this process to the same text. Its source is
 * fixed, not a caller's code, so it needs neither the template worker (template-sandbox.ts), whose
 * round trip added 1-5 ms to every chat of such a model, nor Jinja (bench/ttft.bench.ts).
 */
import { TemplateError } from '../errors.js';
import { loadAddon } from './addon.js';
import type { TemplateJob } from './template-sandbox.js';

type Message = { role: string; content: string };

export function renderChatml(messages: readonly Message[], addGenerationPrompt: boolean): string {
  let text = '';
  for (const m of messages) text += `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`;
  return addGenerationPrompt ? `${text}<|im_start|>assistant\n` : text;
}

/**
 * llama.cpp's chat layer (chatTemplateApply) answers a chatml chat with its prompt and what the
 * reply needs (parser, generation prompt, stops). For messages of role and content only and no
 * tools, the latter depends on the other inputs alone: kept per those inputs, so such a chat costs
 * the text above instead of llama.cpp's renders and parser build (about 2 ms per chat).
 */
const appliedByInputs = new Map<string, object>();

/** A template job (see TemplateJob) for `'chatml'`, answered as the template worker would. */
export function renderChatmlJob(job: TemplateJob): string {
  try {
    if (job.inputs === undefined) return renderChatml(job.messages, job.addGenerationPrompt);
    const apply = () => loadAddon().chatTemplateApply!('chatml', job.bos, job.eos, job.inputs!);
    const { messages, ...rest } = JSON.parse(job.inputs) as { messages: Message[]; tools?: unknown; add_generation_prompt: boolean };
    const plain = messages.length > 0 && rest.tools === undefined && messages.every((m) => Object.keys(m).every((k) => k === 'role' || k === 'content'));
    if (!plain) return apply();
    const key = `${job.bos}\0${job.eos}\0${JSON.stringify(rest)}`;
    let applied = appliedByInputs.get(key);
    if (!applied) {
      applied = JSON.parse(apply()) as object;
      if (appliedByInputs.size >= 32) appliedByInputs.clear();
      appliedByInputs.set(key, applied);
    }
    return JSON.stringify({ ...applied, prompt: renderChatml(messages, rest.add_generation_prompt) });
  } catch (err) {
    throw new TemplateError(String((err as Error)?.message ?? err).trim(), 0, 0);
  }
}
