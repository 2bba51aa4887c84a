/**
 * SASLprep (RFC 4013) of WAMP-SCRAM usernames and passwords, as far as JavaScript's Unicode
 * support reaches: non-ASCII spaces map to U+0020, the characters "commonly mapped to nothing"
 * (RFC 3454 B.1) are removed, the result is NFKC-normalized, and prohibited characters
 * (controls, private use, surrogates, non-characters, tagging and display-changing characters)
 * make it fail. Not done: the bidirectional check and the test for code points unassigned in
 * Unicode 3.2. Printable ASCII, which every common authid is, comes through unchanged.
 *
 * @module
 */

/** RFC 3454 C.1.2: non-ASCII space characters (mapped to U+0020). */
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/gu;
/** RFC 3454 B.1: commonly mapped to nothing. */
const MAPPED_TO_NOTHING =
  /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;
/** RFC 3454 C.2-C.9 (less C.1.2, mapped above), as Unicode properties and ranges. */
const PROHIBITED =
  /[\p{Cc}\p{Co}\p{Cs}\u0340\u0341\u06DD\u070F\u180E\u200C-\u200F\u2028-\u202E\u206A-\u206F\u2FF0-\u2FFB\uFFF9-\uFFFD\uFDD0-\uFDEF\u{E0001}\u{E0020}-\u{E007F}]|[\uFFFE\uFFFF]|[\u{1FFFE}\u{1FFFF}\u{2FFFE}\u{2FFFF}\u{3FFFE}\u{3FFFF}\u{4FFFE}\u{4FFFF}\u{5FFFE}\u{5FFFF}\u{6FFFE}\u{6FFFF}\u{7FFFE}\u{7FFFF}\u{8FFFE}\u{8FFFF}\u{9FFFE}\u{9FFFF}\u{AFFFE}\u{AFFFF}\u{BFFFE}\u{BFFFF}\u{CFFFE}\u{CFFFF}\u{DFFFE}\u{DFFFF}\u{EFFFE}\u{EFFFF}\u{FFFFE}\u{FFFFF}\u{10FFFE}\u{10FFFF}]/u;

/** `text` prepared with SASLprep, or null when it holds a prohibited character. */
export function saslprep(text: string): string | null {
  if (/^[\x20-\x7E]*$/.test(text)) return text;
  const mapped = text.replace(NON_ASCII_SPACE, " ").replace(MAPPED_TO_NOTHING, "")
    .normalize("NFKC");
  return PROHIBITED.test(mapped) ? null : mapped;
}
