/**
 * WAMP URIs as NATS subjects and KV keys (docs/cluster.md, "Events").
 *
 * A WAMP URI component may hold any character but whitespace, `.` and `#` (loose rules), so it
 * can contain `*`, `>` or characters NATS treats specially. Every component therefore becomes one
 * token: kept as it is when it consists of `[A-Za-z0-9-]` only, else `_` followed by the
 * lower-case, unpadded base32 (RFC 4648 alphabet) of its UTF-8 bytes (WTF-8, precisely: a
 * lone surrogate, which a JSON client can send and a prefix cut can make, is encoded like any
 * other code point, so every JavaScript string round-trips). A kept token never holds
 * `_`, so the encoding is reversible; the empty component (wildcard patterns) is `_` alone. The
 * result is always a valid, non-empty, wildcard-free token of `[A-Za-z0-9_-]`, which is also
 * within the KV key charset. A realm is encoded the same way, as one token (its dots included).
 *
 * Pure functions, no I/O.
 *
 * @module
 */

import type { MatchPolicy } from "../wamp/uris.ts";

const KEEP = /^[A-Za-z0-9-]+$/;
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const DECODE = new Map([...ALPHABET].map((c, i) => [c, i]));

/** A token or key that is not of this module's encoding. */
export class SubjectEncodingError extends Error {
  /** Always `SubjectEncodingError`. */
  override name = "SubjectEncodingError";
}

/** The UTF-8 bytes of `text`, lone surrogates encoded as their code points (WTF-8). */
function wtf8(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low < 0xe000) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else {
      out.push(
        0xf0 | (cp >> 18),
        0x80 | ((cp >> 12) & 63),
        0x80 | ((cp >> 6) & 63),
        0x80 | (cp & 63),
      );
    }
  }
  return new Uint8Array(out);
}

/** The string of WTF-8 `bytes`; only the canonical (shortest, paired-as-4-byte) form. */
function unwtf8(bytes: Uint8Array): string {
  let out = "";
  let lastHigh = false;
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    const n = b < 0x80
      ? 1
      : b >= 0xc2 && b < 0xe0
      ? 2
      : b >= 0xe0 && b < 0xf0
      ? 3
      : b >= 0xf0 && b < 0xf5
      ? 4
      : 0;
    if (n === 0 || i + n > bytes.length) throw new SubjectEncodingError("not UTF-8");
    let cp = n === 1 ? b : b & (0x7f >> n);
    for (let k = 1; k < n; k++) {
      const c = bytes[i + k]!;
      if ((c & 0xc0) !== 0x80) throw new SubjectEncodingError("not UTF-8");
      cp = (cp << 6) | (c & 63);
    }
    const min = [0, 0, 0x80, 0x800, 0x10000][n]!;
    if (cp < min || cp > 0x10ffff) throw new SubjectEncodingError("not canonical UTF-8");
    const isLow = cp >= 0xdc00 && cp < 0xe000;
    // A pair written as two 3-byte surrogates has a canonical 4-byte form.
    if (isLow && lastHigh) throw new SubjectEncodingError("not canonical WTF-8");
    lastHigh = cp >= 0xd800 && cp < 0xdc00;
    out += String.fromCodePoint(cp);
    i += n;
  }
  return out;
}

function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let bits = 0;
  let value = 0;
  let n = 0;
  for (const c of text) {
    const d = DECODE.get(c);
    if (d === undefined) throw new SubjectEncodingError(`not base32: ${JSON.stringify(text)}`);
    value = (value << 5) | d;
    bits += 5;
    if (bits >= 8) {
      out[n++] = (value >>> (bits - 8)) & 255;
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  // Canonical form only: the leftover bits are zero and fewer than a character's worth.
  if (value !== 0 || bits >= 5) {
    throw new SubjectEncodingError(`not canonical base32: ${JSON.stringify(text)}`);
  }
  return out;
}

/** One URI component (or a realm) as one subject token. */
export function encodeToken(component: string): string {
  return KEEP.test(component) ? component : `_${base32(wtf8(component))}`;
}

/** The component a token of {@link encodeToken} stands for. */
export function decodeToken(token: string): string {
  if (KEEP.test(token)) return token;
  if (!token.startsWith("_")) {
    throw new SubjectEncodingError(`not a token: ${JSON.stringify(token)}`);
  }
  const text = unwtf8(unbase32(token.slice(1)));
  if (KEEP.test(text)) {
    throw new SubjectEncodingError(`not canonical: ${JSON.stringify(token)} (plain component)`);
  }
  return text;
}

/** The tokens of a URI or pattern, every component encoded (empty ones as `_`). */
function uriTokens(uri: string): string {
  return uri.split(".").map(encodeToken).join(".");
}

/** The subject an event on `topic` of `realm` is published to: `<prefix>.<realm>.<c1>.<c2>…`. */
/**
 * The longest subject a node sends or subscribes to, in bytes. nats-server ends a connection
 * whose protocol line exceeds `max_control_line` (4,096 bytes by default), which a topic long
 * enough to encode past it would do to the whole node; a URI whose subject would be longer is
 * refused (`wamp.error.invalid_uri`) before anything is sent. The margin leaves room for the
 * verb, the subscription id, a reply subject and the size on the same line.
 */
export const MAX_SUBJECT_BYTES = 3584;

/**
 * An upper bound of the UTF-8 length of any subject of `uri` under (prefix, realm): event and
 * subscription subjects alike, computed without encoding. An encoded component is at most "_"
 * and base32 of 3 UTF-8 bytes per UTF-16 unit (4.8×, rounded up per component), so with the
 * separators under 6× (`tests/cluster_subjects_test.ts` checks it on random URIs).
 */
export function subjectBound(prefix: string, realm: string, uri: string): number {
  return prefix.length + 6 * (realm.length + uri.length) + 8;
}

export function eventSubject(prefix: string, realm: string, topic: string): string {
  return `${prefix}.${encodeToken(realm)}.${uriTokens(topic)}`;
}

/**
 * The realm and topic of an event subject, or null when `subject` is not one under `prefix`
 * (or not of this encoding: a peer may publish anything).
 */
export function parseEventSubject(
  prefix: string,
  subject: string,
): { realm: string; topic: string } | null {
  if (!subject.startsWith(`${prefix}.`)) return null;
  const tokens = subject.slice(prefix.length + 1).split(".");
  if (tokens.length < 2) return null;
  try {
    const realm = decodeToken(tokens[0]!);
    const topic = tokens.slice(1).map(decodeToken).join(".");
    return { realm, topic };
  } catch (error) {
    if (error instanceof SubjectEncodingError) return null;
    throw error;
  }
}

/** A subject pattern for a subscription, with the check NATS matching cannot make. */
export interface SubscriptionPattern {
  /** The NATS subject pattern that receives every event the subscription may match. */
  readonly subject: string;
  /** Whether an event on `topic`, received on {@link subject}, matches the subscription. */
  filter(topic: string): boolean;
}

const always = () => true;

/**
 * The NATS pattern a WAMP subscription on (`uri`, `match`) in `realm` needs:
 *
 * - exact: the topic's own subject;
 * - wildcard: empty components become `*` (`a..c` → `a.*.c`);
 * - prefix: WAMP prefix matching is on the string (`com.my` matches `com.myapp.x`), so the
 *   subject holds the components that are complete (all but the last) followed by `>`, and
 *   `filter` checks the string prefix (`com.my` → `com.>`; `com.` → `com.>`; `com` → `>`).
 *
 * Several subscriptions can share one pattern: a node holds one NATS subscription per subject.
 */
export function subscriptionPattern(
  prefix: string,
  realm: string,
  uri: string,
  match: MatchPolicy,
): SubscriptionPattern {
  const base = `${prefix}.${encodeToken(realm)}`;
  switch (match) {
    case "exact":
      return { subject: `${base}.${uriTokens(uri)}`, filter: (topic) => topic === uri };
    case "wildcard": {
      const tokens = uri.split(".").map((c) => c === "" ? "*" : encodeToken(c));
      return { subject: `${base}.${tokens.join(".")}`, filter: always };
    }
    case "prefix": {
      const complete = uri.split(".").slice(0, -1).map(encodeToken);
      return {
        subject: [base, ...complete, ">"].join("."),
        filter: (topic) => topic.startsWith(uri),
      };
    }
  }
}

/**
 * Whether `subject` matches the NATS subscription pattern `pattern`: token by token, `*` matches
 * one token, a final `>` one or more.
 */
export function natsMatch(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    const token = p[i]!;
    if (token === ">" && i === p.length - 1) return s.length > i;
    if (i >= s.length) return false;
    if (token !== "*" && token !== s[i]) return false;
  }
  return p.length === s.length;
}

const MATCH_LETTER: Record<MatchPolicy, string> = { exact: "e", prefix: "p", wildcard: "w" };
const LETTER_MATCH: Record<string, MatchPolicy> = { e: "exact", p: "prefix", w: "wildcard" };

/**
 * The KV key of (realm, match, uri): `<realm>.<e|p|w>.<c1>.<c2>…`, every token encoded, so
 * it is within the bucket key charset `[-/_=.a-zA-Z0-9]`, never starts or ends with `.`, and
 * distinct (realm, match, uri) give distinct keys.
 */
export function uriKey(realm: string, match: MatchPolicy, uri: string): string {
  return `${encodeToken(realm)}.${MATCH_LETTER[match]}.${uriTokens(uri)}`;
}

/** The (realm, match, uri) of a key of {@link uriKey}. */
export function parseUriKey(key: string): { realm: string; match: MatchPolicy; uri: string } {
  const tokens = key.split(".");
  const match = LETTER_MATCH[tokens[1] ?? ""];
  if (tokens.length < 3 || match === undefined) {
    throw new SubjectEncodingError(`not a URI key: ${JSON.stringify(key)}`);
  }
  return {
    realm: decodeToken(tokens[0]!),
    match,
    uri: tokens.slice(2).map(decodeToken).join("."),
  };
}

/**
 * Whether `subject` is a valid NATS subject: non-empty tokens without whitespace; with
 * `pattern`, `*` as a whole token and `>` as the whole last token are allowed, else neither
 * character may appear.
 */
export function isValidSubject(subject: string, pattern: boolean): boolean {
  const tokens = subject.split(".");
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === "" || /\s/.test(token)) return false;
    if (pattern && (token === "*" || (token === ">" && i === tokens.length - 1))) continue;
    if (token.includes("*") || token.includes(">")) return false;
  }
  return true;
}
