/** The chatml fallback renders in this process, to the text llama.cpp's Jinja chatml gives. */
import { describe, expect, it } from 'vitest';
import { formatChat } from '../../src/engine/chat-format.js';
import { loadAddon, Model } from '../../src/engine/index.js';
import { renderChatmlJob } from '../../src/engine/chatml.js';
import { templateSandbox } from '../../src/engine/template-sandbox.js';
import { addonBuilt, sharedModel } from '../support/models.js';

const stories = addonBuilt ? sharedModel('stories') : undefined;

const conversations: { role: string; content: string }[][] = [
  [],
  [{ role: 'user', content: 'Hello' }],
  [{ role: 'system', content: 'You are Lily.' }, { role: 'user', content: 'Tell me a story.' }],
  [
    { role: 'system', content: '  padded \n\n' },
    { role: 'user', content: '' },
    { role: 'assistant', content: 'Once upon a time<|im_end|>' },
    { role: 'tool', content: '{"ok": true}' },
    { role: 'user', content: '日本語と絵文字 🐱 {{ not jinja }} {% raw %}\r\n' },
  ],
];

describe.skipIf(!stories)('chatml, the fallback template', () => {
  it('renders as llama.cpp renders its Jinja chatml source, in this process: no template worker', async () => {
    const model = await Model.load(stories!);  // stories260K has no chat template: chatml
    try {
      expect(model.info.chatTemplate).toBeNull();
      for (const messages of conversations) {
        for (const addGenerationPrompt of [true, false]) {
          // The worker's renderer, called here: the chatml source is llama.cpp's own, not a caller's.
          const jinja = loadAddon().renderChatTemplate('chatml', model.info.bosText, model.info.eosText, messages, addGenerationPrompt);
          expect(await model.applyChatTemplate(messages, { addGenerationPrompt }), JSON.stringify(messages)).toBe(jinja);
          expect(await model.applyChatTemplate(messages, { template: 'chatml', addGenerationPrompt })).toBe(jinja);
          // The chat layer (tools, reply parser) renders chatml here too, to the same prompt.
          if (loadAddon().chatTemplateApply && messages.length > 0) {
            expect((await formatChat(model, messages, { addGenerationPrompt })).prompt).toBe(jinja);
          }
        }
      }
      expect(templateSandbox().workers).toBe(0);
    } finally {
      model.dispose();
    }
  });
  it.skipIf(!loadAddon().chatTemplateApply)("answers the chat layer as llama.cpp does, its reply parser kept per inputs other than plain messages", async () => {
    const model = await Model.load(stories!);
    try {
      const { bosText: bos, eosText: eos } = model.info;
      const settings = [
        { tool_choice: 'auto', parallel_tool_calls: false, reasoning_format: 'auto', add_generation_prompt: true },
        { tool_choice: 'none', parallel_tool_calls: true, reasoning_format: 'none', add_generation_prompt: false, chat_template_kwargs: { enable_thinking: false } },
      ];
      const toolTurns = [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: '', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', content: 'sunny', tool_call_id: 'c1', name: 'weather' },
      ];
      // Twice over: the second pass answers plain chats from what the first kept.
      for (const pass of [1, 2]) {
        for (const rest of settings) {
          for (const messages of [...conversations.filter((c) => c.length > 0), toolTurns]) {
            const inputs = JSON.stringify({ messages, ...rest });
            const full = JSON.parse(loadAddon().chatTemplateApply!('chatml', bos, eos, inputs));
            const here = JSON.parse(renderChatmlJob({ template: 'chatml', bos, eos, messages: [], addGenerationPrompt: rest.add_generation_prompt, inputs }));
            expect(here, `pass ${pass}: ${inputs}`).toEqual(full);
          }
        }
      }
    } finally {
      model.dispose();
    }
  });
});
