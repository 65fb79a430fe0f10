/**
 * llama.cpp's fallback chat template for models that have none (chatml: CHATML_TEMPLATE_SRC in
 * vendor/llama.cpp/common/chat.cpp), rendered here to the same text. Its source is fixed, not a
 * caller's code, so it needs neither Jinja nor the template worker (template-sandbox.ts), whose
 * round trip added 1-5 ms to every chat of such a model (bench/ttft.bench.ts).
 */
export function renderChatml(messages: readonly { role: string; content: string }[], addGenerationPrompt: boolean): string {
  let text = '';
  for (const m of messages) text += `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`;
  return addGenerationPrompt ? `${text}<|im_start|>assistant\n` : text;
}
