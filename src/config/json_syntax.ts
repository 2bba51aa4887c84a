/**
 * Where a JSON text stops being JSON, without quoting it: config files hold secrets, and
 * V8's `JSON.parse` errors quote the text around the error (sometimes with no position at
 * all), so config errors report a line and column from this scanner instead. Pure functions.
 *
 * The scanner follows RFC 8259 exactly as `JSON.parse` does (whitespace is space, tab, LF,
 * CR); it is iterative, so deep nesting cannot overflow the stack.
 *
 * @module
 */

/** The first syntax error of a JSON text. */
export interface JsonSyntaxError {
  /** What was wrong, in words that never include the text itself. */
  readonly problem: string;
  /** 1-based line (lines end at LF). */
  readonly line: number;
  /** 1-based column, in characters (code points) from the start of the line. */
  readonly column: number;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const HEX4 = /[0-9a-fA-F]{4}/y;

/** Thrown inside the scanner only, caught by {@link jsonSyntaxError}. */
class Stop extends Error {
  constructor(readonly offset: number, readonly problem: string) {
    super(problem);
  }
}

/** 1-based line and column of a UTF-16 offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: [...text.slice(start, offset)].length + 1 };
}

/**
 * Finds the first syntax error of `text`.
 *
 * @returns The error, or null when `text` is valid JSON.
 */
export function jsonSyntaxError(text: string): JsonSyntaxError | null {
  try {
    scan(text);
    return null;
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    return { problem: e.problem, ...lineColumn(text, e.offset) };
  }
}

function scan(text: string): void {
  const n = text.length;
  let pos = 0;
  const stack: ("array" | "object")[] = [];
  const ws = () => {
    while (pos < n) {
      const c = text.charCodeAt(pos);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      pos++;
    }
  };
  const fail = (problem: string): never => {
    throw new Stop(pos, pos >= n ? "unexpected end of the file" : problem);
  };
  const string = () => {
    const start = pos;
    const unterminated = () => new Stop(start, "unterminated string (it starts here)");
    pos++; // the opening quote
    for (;;) {
      if (pos >= n) throw unterminated();
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        pos++;
        return;
      }
      if (c < 0x20) fail("control character inside a string (write it as an escape)");
      if (c === 0x5c) {
        pos++;
        if (pos >= n) throw unterminated();
        const e = text[pos];
        if (e === "u") {
          HEX4.lastIndex = pos + 1;
          if (!HEX4.test(text)) fail("invalid \\u escape inside a string");
          pos += 5;
          continue;
        }
        if (!'"\\/bfnrt'.includes(e!)) fail("invalid escape inside a string");
      }
      pos++;
    }
  };
  const key = () => {
    ws();
    if (text[pos] !== '"') fail("expected a property name in double quotes");
    string();
    ws();
    if (text[pos] !== ":") fail("expected ':' after a property name");
    pos++;
  };
  for (;;) {
    // a value
    ws();
    const c = text[pos] ?? "";
    if (c === "{" || c === "[") {
      pos++;
      ws();
      if (text[pos] === (c === "{" ? "}" : "]")) pos++;
      else {
        stack.push(c === "{" ? "object" : "array");
        if (c === "{") key();
        continue;
      }
    } else if (c === '"') string();
    else if (c === "-" || (c >= "0" && c <= "9")) {
      NUMBER.lastIndex = pos;
      if (!NUMBER.test(text)) fail("invalid number");
      pos = NUMBER.lastIndex;
    } else if (text.startsWith("true", pos)) pos += 4;
    else if (text.startsWith("false", pos)) pos += 5;
    else if (text.startsWith("null", pos)) pos += 4;
    else fail("expected a value");
    // after a value: close containers or go on to the next value
    for (;;) {
      ws();
      const top = stack.at(-1);
      if (top === undefined) {
        if (pos < n) fail("unexpected text after the end of the document");
        return;
      }
      const d = text[pos];
      if (d === ",") {
        pos++;
        if (top === "object") key();
        break;
      }
      if (d === (top === "object" ? "}" : "]")) {
        pos++;
        stack.pop();
        continue;
      }
      fail(top === "object" ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }
}
