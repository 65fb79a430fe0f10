export { Batch, parseTemperatures, type BatchFiles, type BatchOptions, type BatchProgress, type BatchReport, type BatchRunOptions } from './batch.js';
export { parseChecks, type Check, type CheckResult, type CheckedCell } from './checks.js';
export { batchStamp, cellKey, matrix, parseOriginalLog, toCsv, toHtml, toMarkdown, type BatchCell, type BatchSummary, type CellResult } from './reports.js';
