import { InvalidArgumentError } from './errors.js';

/** Renders a received value for an error message, short and safe. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return `a ${typeof value === 'object' ? value.constructor?.name ?? 'object' : typeof value}`;
}

/** `Expected <what> for <name> but received <value>` */
export function invalid(what: string, name: string, value: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`Expected ${what} for ${name} but received ${describeValue(value)}`);
}

export function expectString(value: unknown, name: string, { allowEmpty = true } = {}): string {
  if (typeof value !== 'string' || (!allowEmpty && value.length === 0)) {
    throw invalid(allowEmpty ? 'a string' : 'a non-empty string', name, value);
  }
  return value;
}

export function expectInteger(value: unknown, name: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = min > -Infinity && max < Infinity ? ` between ${min} and ${max}`
      : min > -Infinity ? ` >= ${min}` : max < Infinity ? ` <= ${max}` : '';
    throw invalid(`an integer${range}`, name, value);
  }
  return value;
}

export function expectNumber(value: unknown, name: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = min > -Infinity && max < Infinity ? ` between ${min} and ${max}`
      : min > -Infinity ? ` >= ${min}` : max < Infinity ? ` <= ${max}` : '';
    throw invalid(`a number${range}`, name, value);
  }
  return value;
}

export function expectBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalid('a boolean', name, value);
  return value;
}

export function expectOptional<T>(value: unknown, check: (v: unknown) => T): T | undefined {
  return value === undefined ? undefined : check(value);
}

/**
 * Throws unless `value`'s objects and arrays nest at most `max` levels deep. Measured without
 * recursion: data that nests deeper than the stack would overflow every recursive walker after
 * it (structuredClone, JSON.stringify, native converters).
 */
export function expectNestedAtMost(value: unknown, name: string, max: number): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    if (depth > max) throw invalid(`data nested at most ${max} levels deep`, name, value);
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
}
