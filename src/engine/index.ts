export { loadAddon, addonAvailable, addonStatus } from './addon.js';
export type { AddonStatus } from './addon.js';
export type { GgufValue, NativeDevice } from './addon-types.js';
export { ChatReplyParser, checkChatFormatOptions, flattenToolTurns, formatChat, grammarOptions, parseChatReply } from './chat-format.js';
export type {
  ChatFormat, ChatFormatOptions, ChatReply, ChatTool, ChatTurn, FormatChatOptions, ReasoningFormat, ReplyDelta, ReplyFormat, ToolCall, ToolChoice,
} from './chat-format.js';
export { Context, EmbeddingContext } from './context.js';
export { MAX_LOGIT_BIAS_TOKENS, MAX_PROBABILITIES } from './context.js';
export type { ContextOptions, EmbeddingContextOptions, GenerateOptions, GenerationContextOptions, LogitBias, SlotInfo, TokenOptions } from './context.js';
export { Generation } from './generation.js';
export type { GeneratedToken, GenerationResult, StopReason, TokenChunk, TokenProbability } from './generation.js';
export { readGgufMetadata } from './gguf.js';
export type { GgufMetadata } from './gguf.js';
export { defaultThreads, setLogger, systemInfo } from './llama.js';
export type { LogLevel, Logger, SystemInfo } from './llama.js';
export { Model } from './model.js';
export type { ChatMessage, ModelInfo, ModelLoadOptions } from './model.js';
export { ggufFileTypes, quantize } from './quantize.js';
export type { GgufFileType, QuantizeOptions } from './quantize.js';
