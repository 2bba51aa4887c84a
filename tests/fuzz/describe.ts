/**
 * Values, bytes and wire units as text for failure reports and transcripts.
 *
 * @module
 */

import type { Wire } from "./wire.ts";

export function errText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

export function hex(bytes: Uint8Array, max = 160): string {
  const shown = [...bytes.subarray(0, max)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return bytes.length > max ? `${shown} …(${bytes.length} bytes in all)` : shown;
}

/** A JavaScript-ish literal of a value for failure reports (bigint, bytes, long strings, depth). */
export function lit(v: unknown, depth = 0): string {
  if (v === undefined) return "undefined";
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "string") {
    if (v.length > 120) {
      const first = v[0]!;
      if (v.split(first).length - 1 === v.length) {
        return `${JSON.stringify(first)}.repeat(${v.length})`;
      }
      return `${JSON.stringify(v.slice(0, 60))} + …(${v.length} chars)`;
    }
    return JSON.stringify(v);
  }
  if (typeof v !== "object" || v === null) return String(v);
  if (depth > 12) return "<nested deeper>";
  if (v instanceof Uint8Array) return `bytes(${v.length}: ${hex(v, 16)})`;
  if (Array.isArray(v)) {
    const items = v.slice(0, 12).map((x) => lit(x, depth + 1));
    if (v.length > 12) items.push(`…(${v.length} items)`);
    return `[${items.join(", ")}]`;
  }
  const entries = Object.entries(v as Record<string, unknown>);
  const items = entries.slice(0, 12).map(([k, x]) => `${JSON.stringify(k)}: ${lit(x, depth + 1)}`);
  if (entries.length > 12) items.push(`…(${entries.length} keys)`);
  return `{${items.join(", ")}}`;
}

export function wireText(w: Wire): string {
  if (typeof w.data === "string") {
    const s = w.data.length > 400 ? `${w.data.slice(0, 400)}…(${w.data.length} chars)` : w.data;
    return `${w.frame} frame, text ${JSON.stringify(s)}`;
  }
  return `${w.frame} frame, ${w.data.length} bytes: ${hex(w.data)}`;
}
