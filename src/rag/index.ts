export { Rag, ragText } from './rag.js';
export type {
  RagOptions, CreateCollectionOptions, IngestOptions, AddArchiveOptions, RagFileInput, RagSearchMode, RagSearchOptions, RagSearchResult,
} from './rag.js';
export type {
  CollectionInfo, EmbeddingSettings, FileRecord, IngestPhase, IngestProgress, IngestReport,
} from './collection.js';
export { HashedNgramEmbedder, EmbeddingError } from './embedder.js';
export type { Embedder, EmbedderFactory, HashedNgramEmbedderOptions } from './embedder.js';
export { ArchiveRefusedError, DEFAULT_ARCHIVE_LIMITS, readArchive, detectArchiveFormat } from './archive.js';
export type {
  ArchiveLimits, ArchiveRefusalReason, ArchiveContents, ArchiveFile, ArchiveFormat, SkippedFile, ReadArchiveOptions,
} from './archive.js';
export { splitIntoChunks, DEFAULT_CHUNK_SIZE } from './chunker.js';
export type { ChunkOptions, TextChunk } from './chunker.js';
export {
  loadDocument, documentFormatOf, htmlToText, csvToText, jsonToText, UnreadableFileError, DocumentLimitError, DEFAULT_DOCUMENT_LIMITS,
} from './loaders.js';
export type { DocumentFormat, LoadedDocument, LoadOptions, DocumentLimits } from './loaders.js';
export { decodeText, NotTextError } from './encoding.js';
export type { DecodedText, TextEncodingName } from './encoding.js';
export { LexicalIndex, countTerms } from './lexical.js';
export type { CountedTerms } from './lexical.js';
export type { VectorQuantization } from './vector-index.js';
