/**
 * How the status page writes values: an em dash for nothing, grouped digits for numbers,
 * local times of day (with the date when it is not today).
 *
 * @module
 */

/** A value as text: strings as they are, numbers and booleans plainly, the rest as JSON. */
export function text(v: unknown): string {
  if (v === undefined || v === null || v === "") return "\u2014";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/** A number with grouped digits (`1,234`), anything else as `text`. */
export function num(v: unknown): string {
  return typeof v === "number" && isFinite(v) ? v.toLocaleString("en-US") : text(v);
}

function pad(n: number): string {
  return n < 10 ? "0" + n : String(n);
}

/** `hh:mm:ss` (local time) of a time in ms since the epoch, with `yyyy-mm-dd ` before it. */
export function fmtTime(ms: unknown, withDate: boolean): string {
  if (typeof ms !== "number" || !isFinite(ms)) return "\u2014";
  const d = new Date(ms);
  if (isNaN(d.getTime())) return "\u2014";
  const t = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  if (!withDate) return t;
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + t;
}

/** A time of day for today, a date and time otherwise. */
export function fmtWhen(ms: unknown): string {
  if (typeof ms !== "number" || !isFinite(ms)) return "\u2014";
  const today = new Date().toDateString() === new Date(ms).toDateString();
  return fmtTime(ms, !today);
}

/** The ISO form of a time in ms since the epoch, or "" if it is not a valid time. */
export function isoOf(ms: number): string {
  const d = new Date(ms);
  return isNaN(d.getTime()) ? "" : d.toISOString();
}
