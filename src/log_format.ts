/**
 * The text and JSON forms of one log line, as pure functions (the loggers in `log.ts` write
 * them). Log lines carry client-chosen strings (HELLO realms, ABORT reasons and messages), so
 * a line must never be able to start another line, forge a `key=value` field, or drive a
 * terminal:
 *
 * - Text lines: control characters (C0 including `\n`, `\r`, `\t` and ESC; DEL; C1), U+2028,
 *   U+2029 and the bidirectional overrides/isolates are written as `\xNN` or `\uNNNN`, in the
 *   message and in every field. A field value that is empty or contains a space, `=`, `"`, a
 *   backslash or one of those characters is quoted JSON-style (`"..."` with `\"` and `\\`), so
 *   an unquoted value never contains a backslash and a quoted one always ends at its closing
 *   quote.
 * - JSON lines: `JSON.stringify` already escapes C0; DEL, C1, U+2028, U+2029 and the
 *   bidirectional controls are escaped as `\uNNNN` too (still valid JSON), since some readers
 *   split lines at U+0085, U+2028 or U+2029.
 *
 * @module
 */

/** Characters that may split a line or act on a terminal or on the display order. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** Characters that force a text field value into quotes. */
// deno-lint-ignore no-control-regex -- as above
const NEEDS_QUOTES = /[\s="\\\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function escapeChar(c: string): string {
  const n = c.charCodeAt(0);
  return n <= 0xff
    ? `\\x${n.toString(16).padStart(2, "0")}`
    : `\\u${n.toString(16).padStart(4, "0")}`;
}

/** `text` with every unsafe character written as `\xNN` / `\uNNNN`. */
export function escapeLogText(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/** JSON text of `value` with bigints as decimal strings. */
function toJson(value: unknown): string | undefined {
  return JSON.stringify(value, (_k, x) => typeof x === "bigint" ? x.toString() : x);
}

/** One text field value: bare when safe, else quoted with `\"`, `\\` and escapes. */
export function formatFieldValue(value: unknown): string {
  let text: string;
  if (typeof value === "string") text = value;
  else if (
    value === undefined || value === null || typeof value === "number" ||
    typeof value === "boolean" || typeof value === "bigint"
  ) {
    return String(value);
  } else text = toJson(value) ?? String(value);
  if (text !== "" && !NEEDS_QUOTES.test(text)) return text;
  return `"${escapeLogText(text.replace(/["\\]/g, "\\$&"))}"`;
}

/**
 * One text log line (without the line break):
 * `<ISO time> <LEVEL padded to 5> <message> key=value ...`.
 */
export function formatTextLine(
  time: string,
  level: string,
  message: string,
  fields?: Record<string, unknown>,
): string {
  let out = `${time} ${level.toUpperCase().padEnd(5)} ${escapeLogText(message)}`;
  if (fields) {
    for (const [k, v] of Object.entries(fields)) {
      out += ` ${escapeLogText(k)}=${formatFieldValue(v)}`;
    }
  }
  return out;
}

/** One JSON log line (without the line break): the fields, then `time`, `level`, `message`. */
export function formatJsonLine(
  time: string,
  level: string,
  message: string,
  fields?: Record<string, unknown>,
): string {
  const text = toJson({ ...fields, time, level, message }) as string;
  return text.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
