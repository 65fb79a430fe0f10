/**
 * llama-server's introspection routes: `GET /props` (server properties and default generation
 * settings), `GET /slots` (what each slot of the loaded model does), `POST /apply-template` (a
 * conversation through the model's chat template, without generating), `GET /metrics`
 * (Prometheus text). Models are named, never given by path.
 */
import packageJson from '../../../package.json' with { type: 'json' };
import { readGgufMetadata } from '../../engine/index.js';
import { isHubReference } from '../../llm/hub.js';
import { DEFAULT_GENERATION_SETTINGS } from '../../llm/types.js';
import { formatChat } from '../../engine/chat-format.js';
import { chatFormatOptions, normalizeMessages } from '../openai-normalize.js';
import { modelFileName, readJson, withLocalModel, type RouteContext, type RouteSpec } from '../route.js';

const TAGS = ['llama.cpp'];

export function introspectionRoutes(ctx: RouteContext): RouteSpec[] {
  const props: RouteSpec['handler'] = async (c) => {
    const d = DEFAULT_GENERATION_SETTINGS;
    const s = ctx.defaults;
    const ref = ctx.akachat.defaultModel;
    // The template is the GGUF's own, read from its metadata (no load needed).
    const chatTemplate = ref && !isHubReference(ref) ? await readGgufMetadata(ref).then((m) => m.chatTemplate ?? '', () => '') : '';
    return c.json({
      default_generation_settings: {
        n_ctx: ctx.akachat.models.contextSize,
        is_processing: ctx.queue.running > 0,
        params: {
          n_predict: s.maxTokens ?? d.maxTokens,
          seed: s.seed ?? -1,
          temperature: s.temperature ?? d.temperature,
          top_k: s.topK ?? d.topK,
          top_p: s.topP ?? d.topP,
          min_p: s.minP ?? d.minP,
          repeat_penalty: s.repeatPenalty ?? d.repeatPenalty,
          presence_penalty: d.presencePenalty,
          frequency_penalty: d.frequencyPenalty,
          stop: [],
        },
      },
      total_slots: ctx.akachat.models.parallel,
      model_alias: ctx.catalog.defaultModelId() ?? '',
      chat_template: chatTemplate,
      modalities: { vision: false, audio: false },
      build_info: `akachat ${packageJson.version}`,
      is_sleeping: ref ? !ctx.akachat.models.loaded.length : true,
    });
  };

  // llama-server's slot fields where akachat has them; `model` names the model each slot belongs to.
  const slots: RouteSpec['handler'] = (c) => {
    const list = ctx.akachat.models.slots.flatMap(({ path, contextSize, slots: modelSlots }) => modelSlots.map((slot) => ({
      id: slot.id,
      model: modelFileName(path),
      n_ctx: contextSize,
      is_processing: slot.state !== 'idle',
      state: slot.state,
      n_cached: slot.cachedTokens,
      n_prompt_tokens: slot.promptTokens,
      n_decoded: slot.generatedTokens,
    })));
    if (c.req.query('fail_on_no_slot') === '1' && list.length > 0 && list.every((slot) => slot.is_processing)) {
      return c.json({ error: { code: 503, message: 'no slot available', type: 'unavailable_error' } }, 503);
    }
    return c.json(list);
  };

  const applyTemplate: RouteSpec['handler'] = async (c, signal) => {
    const body = await readJson(c);
    const messages = normalizeMessages(body.messages, { toolTurns: 'keep' });
    const options = chatFormatOptions(body);
    return withLocalModel(ctx, typeof body.model === 'string' ? body.model : undefined, signal, async (model, template) => {
      const chat = await formatChat(model, messages, { ...options, template, signal });
      // Beyond llama-server's {prompt}: what generation would be held to, for checking a template's tool support.
      return c.json({
        prompt: chat.prompt,
        chat_format: chat.formatName,
        ...(chat.grammar ? { grammar: chat.grammar.text, grammar_lazy: chat.grammar.lazy, grammar_triggers: chat.grammar.triggers } : {}),
      });
    });
  };

  return [
    {
      method: 'GET',
      path: '/props',
      summary: 'Server properties (llama.cpp server): default generation settings, slots, the default model\'s chat template',
      tags: TAGS,
      responses: { 200: { description: '{default_generation_settings, total_slots, model_alias, chat_template, ...}' } },
      errors: 'llamacpp',
      handler: props,
    },
    {
      method: 'GET',
      path: '/slots',
      summary: 'The slots of the loaded models (llama.cpp server): id, state, cached, prompt and generated tokens; ?fail_on_no_slot=1 answers 503 when all are busy',
      tags: TAGS,
      responses: { 200: { description: '[{id, model, n_ctx, is_processing, n_cached, n_prompt_tokens, n_decoded}]' }, 503: { description: 'Every slot is busy (with fail_on_no_slot=1)' } },
      errors: 'llamacpp',
      handler: slots,
    },
    {
      method: 'POST',
      path: '/apply-template',
      summary: 'A conversation (tool calls and results included) through the model\'s chat template with its tools, without generating (llama.cpp server)',
      tags: TAGS,
      requestBody: {
        schema: { type: 'object', required: ['messages'], properties: { messages: { type: 'array' }, model: { type: 'string' }, tools: { type: 'array' }, tool_choice: {}, parallel_tool_calls: { type: 'boolean' }, reasoning_format: { type: 'string' }, chat_template_kwargs: { type: 'object' } } },
        example: { messages: [{ role: 'user', content: 'Hello' }] },
      },
      responses: { 200: { description: '{prompt, chat_format}, and {grammar, grammar_lazy, grammar_triggers} when tools may be called' } },
      errors: 'llamacpp',
      handler: applyTemplate,
    },
    {
      method: 'GET',
      path: '/metrics',
      summary: 'Prometheus metrics: tokens and times of prompts and generations, requests running and waiting, outcomes',
      tags: TAGS,
      responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain' } },
      errors: 'llamacpp',
      handler: () => new Response(ctx.metrics.text(ctx.queue, ctx.akachat.models.parallel, ctx.akachat.models.decodes), { headers: { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' } }),
    },
  ];
}
