import { TemplateError } from '../../errors.js';
import { ExpressionLexer, SourceLocator, type Token } from './lexer.js';
import { quoted } from './msgf.js';
import {
  DEFAULT_INSTRUCTION_LIMITS,
  INSTRUCTION_FUNCTIONS,
  isInstructionFunction,
  type CallNode,
  type ComparisonLink,
  type ComparisonOperator,
  type ExpressionNode,
  type FunctionSpec,
  type InstructionLimits,
  type InstructionTree,
  type InstructionValue,
  type SourcePosition,
  type TemplatePart,
} from './tree.js';

const COMPARISON_OPERATORS = new Set<string>(['==', '!=', '<', '<=', '>', '>=']);
const LITERAL_NAMES = new Map<string, InstructionValue>([
  ['True', true], ['true', true], ['False', false], ['false', false], ['None', null], ['null', null],
]);
const RESERVED_NAMES = new Set(['and', 'or', 'not']);

/**
 * Parses an instruction into a tree, once; the tree is then evaluated per call.
 *
 * Text is kept verbatim except: `{ expression }` is a placeholder, `{{` is a literal `{` and
 * `}}` a literal `}`. A lone `}` outside a placeholder is also a literal `}` (lenient, so
 * prose with a stray brace still works). Syntax errors are TemplateErrors with the line and
 * column; errors inside a call name the function.
 *
 * @param limits `maxInstructionLength` and `maxNestingDepth` apply here (defaults in
 *   {@link DEFAULT_INSTRUCTION_LIMITS}).
 */
export function parseInstruction(text: string, limits: Partial<InstructionLimits> = {}): InstructionTree {
  if (typeof text !== 'string') throw new TemplateError(`Expected the instruction to be a string but received ${typeof text}`, 1, 1);
  const { maxInstructionLength, maxNestingDepth } = { ...DEFAULT_INSTRUCTION_LIMITS, ...limits };
  if (text.length > maxInstructionLength) {
    throw new TemplateError(`The instruction is longer than ${maxInstructionLength} characters (${text.length})`, 1, 1);
  }
  try {
    return new InstructionParser(text, maxNestingDepth).parse();
  } catch (err) {
    // Only reachable when a caller raises maxNestingDepth beyond what the stack holds.
    if (err instanceof RangeError) throw new TemplateError('Expression nested too deeply for the stack', 1, 1, { cause: err });
    throw err;
  }
}

class InstructionParser {
  readonly #source: string;
  readonly #locator: SourceLocator;
  readonly #lexer: ExpressionLexer;
  readonly #maxDepth: number;
  #token!: Token;
  #depth = 0;
  /** Names of the calls being parsed, innermost last, to name the function in errors. */
  readonly #calls: string[] = [];

  constructor(source: string, maxDepth: number) {
    this.#source = source;
    this.#locator = new SourceLocator(source);
    this.#lexer = new ExpressionLexer(source, this.#locator);
    this.#maxDepth = maxDepth;
  }

  parse(): InstructionTree {
    const source = this.#source;
    const parts: TemplatePart[] = [];
    let text = '';
    let textStart = 0;
    let offset = 0;
    const pushText = () => {
      if (text !== '') parts.push({ kind: 'text', text, pos: this.#position(textStart) });
      text = '';
    };
    while (offset < source.length) {
      const brace = nextBrace(source, offset);
      if (brace < 0) {
        text += source.slice(offset);
        break;
      }
      text += source.slice(offset, brace);
      if (source[brace] === '}') {
        text += '}';
        offset = brace + (source[brace + 1] === '}' ? 2 : 1);
        continue;
      }
      if (source[brace + 1] === '{') {
        text += '{';
        offset = brace + 2;
        continue;
      }
      pushText();
      const placeholder = this.#parsePlaceholder(brace);
      parts.push(placeholder.part);
      offset = textStart = placeholder.end;
    }
    pushText();
    return Object.freeze({ parts: Object.freeze(parts) });
  }

  #parsePlaceholder(open: number): { part: TemplatePart; end: number } {
    const pos = this.#position(open);
    this.#advanceFrom(open + 1);
    if (this.#isPunct('}')) throw this.#errorAt('Empty placeholder {}; write {{}} for literal braces', open);
    if (this.#isEnd()) throw this.#errorAt("Unterminated placeholder: missing '}'", open);
    const expression = this.#parseExpression();
    if (!this.#isPunct('}')) {
      if (this.#isEnd()) throw this.#errorAt("Unterminated placeholder: missing '}'", open);
      throw this.#unexpected("'}' to close the placeholder");
    }
    return { part: { kind: 'placeholder', expression, pos }, end: this.#token.end };
  }

  // expression := or ; or := and ('or' and)* ; and := not ('and' not)*
  #parseExpression(): ExpressionNode {
    this.#enter();
    const node = this.#parseLogical('or', () => this.#parseLogical('and', () => this.#parseNot()));
    this.#depth--;
    return node;
  }

  #parseLogical(operator: 'and' | 'or', operand: () => ExpressionNode): ExpressionNode {
    const first = operand();
    if (!this.#isName(operator)) return first;
    const operands = [first];
    while (this.#isName(operator)) {
      this.#advance();
      operands.push(operand());
    }
    return { kind: 'logical', operator, operands, pos: first.pos };
  }

  // not := 'not' not | comparison
  #parseNot(): ExpressionNode {
    if (!this.#isName('not')) return this.#parseComparison();
    const pos = this.#position(this.#token.start);
    this.#advance();
    this.#enter();
    const operand = this.#parseNot();
    this.#depth--;
    return { kind: 'not', operand, pos };
  }

  // comparison := unary (op unary)*
  #parseComparison(): ExpressionNode {
    const first = this.#parseUnary();
    const rest: ComparisonLink[] = [];
    while (this.#token.type === 'punct' && COMPARISON_OPERATORS.has(this.#token.value)) {
      const operator = this.#token.value as ComparisonOperator;
      const pos = this.#position(this.#token.start);
      this.#advance();
      rest.push({ operator, right: this.#parseUnary(), pos });
    }
    return rest.length === 0 ? first : { kind: 'compare', first, rest, pos: first.pos };
  }

  // unary := '-' unary | primary
  #parseUnary(): ExpressionNode {
    if (!this.#isPunct('-')) return this.#parsePrimary();
    const pos = this.#position(this.#token.start);
    this.#advance();
    this.#enter();
    const operand = this.#parseUnary();
    this.#depth--;
    return { kind: 'negate', operand, pos };
  }

  #parsePrimary(): ExpressionNode {
    const token = this.#token;
    const pos = this.#position(token.start);
    switch (token.type) {
      case 'string': {
        // Adjacent string literals concatenate, as in Python ('a' 'b' == 'ab').
        let value = token.value;
        this.#advance();
        while (this.#token.type === 'string') {
          value += this.#token.value;
          this.#advance();
        }
        return { kind: 'literal', value, pos };
      }
      case 'number':
        if (!Number.isFinite(token.value)) throw this.#errorAt('Number too large', token.start);
        this.#advance();
        return { kind: 'literal', value: token.value, pos };
      case 'name':
        return this.#parseName(token.value, pos);
      case 'punct':
        if (token.value === '(') {
          this.#advance();
          const inner = this.#parseExpression();
          this.#expectPunct(')', "')' to close '('");
          return inner;
        }
        if (token.value === '[') return this.#parseList(pos);
        throw this.#unexpected('a value');
      default:
        throw this.#unexpected('a value');
    }
  }

  #parseName(name: string, pos: SourcePosition): ExpressionNode {
    const start = this.#token.start;
    if (LITERAL_NAMES.has(name)) {
      this.#advance();
      return { kind: 'literal', value: LITERAL_NAMES.get(name)!, pos };
    }
    if (RESERVED_NAMES.has(name)) throw this.#unexpected('a value');
    this.#advance();
    if (name === 'input') return { kind: 'input', pos };
    if (name === 'var') {
      if (this.#isPunct('.')) {
        this.#advance();
        if (this.#token.type !== 'name') throw this.#unexpected('a variable name after var.');
        const key = this.#token.value;
        const keyPos = this.#position(this.#token.start);
        this.#advance();
        return { kind: 'var', key: { kind: 'literal', value: key, pos: keyPos }, pos };
      }
      if (this.#isPunct('[')) {
        this.#advance();
        const key = this.#parseExpression();
        this.#expectPunct(']', "']' after var[key");
        return { kind: 'var', key, pos };
      }
      if (!this.#isPunct('(')) throw this.#unexpected(".key, ['key'] or ('key') after var");
    }
    if (this.#isPunct('(')) {
      if (!isInstructionFunction(name)) throw this.#errorAt(`Unknown function ${quoted(name)}`, start);
      const call = this.#parseCall(name, pos);
      return name === 'var' ? { kind: 'var', key: call.args[0], pos } : call;
    }
    if (isInstructionFunction(name)) throw this.#errorAt(`${name} is a function: call it as ${name}(...)`, start);
    throw this.#errorAt(`Unknown name ${quoted(name)}: only input, var, literals and functions are available`, start);
  }

  #parseList(pos: SourcePosition): ExpressionNode {
    this.#advance(); // '['
    this.#enter();
    const items: ExpressionNode[] = [];
    while (!this.#isPunct(']')) {
      items.push(this.#parseExpression());
      if (this.#isPunct(',')) this.#advance();
      else if (!this.#isPunct(']')) throw this.#unexpected("',' or ']' in a list");
    }
    this.#advance();
    this.#depth--;
    return { kind: 'list', items, pos };
  }

  /** Parses `( args )` after a function name and binds the arguments to its parameters. */
  #parseCall(name: keyof typeof INSTRUCTION_FUNCTIONS, pos: SourcePosition): CallNode {
    const spec: FunctionSpec = INSTRUCTION_FUNCTIONS[name];
    this.#calls.push(name);
    this.#enter();
    this.#advance(); // '('
    const positional: ExpressionNode[] = [];
    const keywords = new Map<string, { value: ExpressionNode; offset: number }>();
    while (!this.#isPunct(')')) {
      const start = this.#token.start;
      if (this.#token.type === 'name' && this.#lexer.read(this.#token.end).value === '=') {
        const keyword = this.#token.value;
        this.#advance();
        this.#advance(); // '='
        if (keywords.has(keyword)) throw this.#errorAt(`${name}() got keyword argument ${quoted(keyword)} twice`, start);
        keywords.set(keyword, { value: this.#parseExpression(), offset: start });
      } else {
        if (this.#isPunct('**')) throw this.#errorAt(`${name}() does not accept **unpacking`, start);
        if (keywords.size > 0) throw this.#errorAt(`${name}(): a positional argument cannot follow keyword arguments`, start);
        positional.push(this.#parseExpression());
      }
      if (this.#isPunct(',')) this.#advance();
      else if (!this.#isPunct(')')) throw this.#unexpected(`',' or ')' in the arguments of ${name}()`);
    }
    this.#advance(); // ')'
    this.#depth--;
    this.#calls.pop();
    return this.#bindArguments(name, spec, positional, keywords, pos);
  }

  #bindArguments(
    name: keyof typeof INSTRUCTION_FUNCTIONS,
    spec: FunctionSpec,
    positional: ExpressionNode[],
    keywords: Map<string, { value: ExpressionNode; offset: number }>,
    pos: SourcePosition,
  ): CallNode {
    const fail = (message: string) => new TemplateError(`${name}(): ${message}`, pos.line, pos.column);
    if (positional.length > spec.params.length) {
      throw fail(`takes at most ${spec.params.length} argument${spec.params.length === 1 ? '' : 's'} but ${positional.length} were given`);
    }
    const args: ExpressionNode[] = [];
    spec.params.forEach((param, index) => {
      const names = [param.name, ...(param.aliases ?? [])];
      const given = names.filter((n) => keywords.has(n));
      if (given.length > 1 || (given.length === 1 && index < positional.length)) {
        throw fail(`got more than one value for argument ${param.name}`);
      }
      if (index < positional.length) {
        args.push(positional[index]);
      } else if (given.length === 1) {
        args.push(keywords.get(given[0])!.value);
        keywords.delete(given[0]);
      } else if (param.default !== undefined) {
        args.push({ kind: 'literal', value: param.default, pos });
      } else {
        throw fail(`missing required argument ${param.name}`);
      }
    });
    const extraKeywords = [...keywords].map(([keyword, { value }]) => ({ name: keyword, value }));
    if (extraKeywords.length > 0 && !spec.extraKeywords) {
      throw fail(`unexpected keyword argument ${quoted(extraKeywords[0].name)}`);
    }
    return { kind: 'call', name, args, extraKeywords, pos };
  }

  #enter(): void {
    if (++this.#depth > this.#maxDepth) {
      throw this.#errorAt(`Expression nested deeper than ${this.#maxDepth} levels`, this.#token.start);
    }
  }

  #advance(): void {
    this.#token = this.#lexer.read(this.#token.end);
  }

  #advanceFrom(offset: number): void {
    this.#token = this.#lexer.read(offset);
  }

  #isPunct(value: string): boolean {
    return this.#token.type === 'punct' && this.#token.value === value;
  }

  #isEnd(): boolean {
    return this.#token.type === 'eof';
  }

  #isName(value: string): boolean {
    return this.#token.type === 'name' && this.#token.value === value;
  }

  #expectPunct(value: string, what: string): void {
    if (!this.#isPunct(value)) throw this.#unexpected(what);
    this.#advance();
  }

  #unexpected(expected: string): TemplateError {
    const token = this.#token;
    const found = token.type === 'eof' ? 'the end of the instruction'
      : token.type === 'string' ? 'a string'
        : token.type === 'number' ? `number ${token.value}`
          : quoted(token.value);
    return this.#errorAt(`Expected ${expected} but found ${found}`, token.start);
  }

  #errorAt(message: string, offset: number): TemplateError {
    const inCall = this.#calls.length > 0 ? ` in ${this.#calls[this.#calls.length - 1]}()` : '';
    return this.#lexer.error(message + inCall, offset);
  }

  #position(offset: number): SourcePosition {
    return this.#locator.position(offset);
  }
}

const BRACE = /[{}]/g;

/** Offset of the next `{` or `}` at or after `from`, or -1; one linear scan overall. */
function nextBrace(source: string, from: number): number {
  BRACE.lastIndex = from;
  return BRACE.exec(source)?.index ?? -1;
}
