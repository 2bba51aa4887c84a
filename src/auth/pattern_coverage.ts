/**
 * Pattern coverage: how much of what a prefix or wildcard pattern can match a static role may
 * act on. A pattern SUBSCRIBE or REGISTER stands for an infinite set of concrete URIs; this
 * module classifies that set, for one role and one action, as `"all"` (the role may act on
 * every URI of it), `"none"` (on none) or `"some"`, in exact agreement with
 * {@link RolePermissions.authorize}, which decides each concrete URI.
 *
 * Method. A concrete URI is a list of non-empty components. Whether a rule (or the pattern)
 * matches it depends on its number of components and, per position, only on two kinds of
 * predicate on the component there: equality with a *literal* (a component of an exact or
 * wildcard rule, a non-last component of a prefix rule) and "starts with" a *partial* (the last
 * component of a prefix rule, possibly empty). Every rule is a conjunction of such predicates
 * plus a length condition, and the deciding rule of a URI is the first matching rule in a fixed
 * order (exact; wildcards by the spec's precedence, which compares two patterns only with each
 * other; longer prefixes before shorter ones; else deny).
 *
 * So for each possible deciding rule R (and for "no rule", which denies) and each length, one
 * *canonical witness* suffices: the URI that matches R and the pattern and, at every position,
 * satisfies as few predicates as possible. A component forced to equal a literal is that
 * literal; one forced to start with `q` (`""` when unforced) is the *free extension* of `q`: the
 * shortest valid component that starts with `q`, starts with no longer partial and equals no
 * literal of a rule (usually `q` plus one character that continues no rule's literal or partial
 * at that position). Any URI of that length where R decides satisfies, position by position,
 * every rule predicate the witness satisfies, so every rule matching the witness matches it
 * too, and R still decides the witness.
 *
 * No rule looks at the components from one past the deepest rule on, so all lengths beyond
 * that depth are decided alike, by the components before it: one such length stands for all
 * of them, and the pattern's components there are only checked to be satisfiable. A witness is
 * therefore never longer than the deepest rule plus one component, however long the pattern,
 * and the cost is linear in the pattern plus at most (rules + 1) × (rule depth + 1) witnesses
 * (outside the strict case below).
 * Each witness is decided by `RolePermissions.authorize` itself, so precedence is never
 * re-implemented here; witnesses of rules whose outcome is already known are skipped, and the
 * search stops once both outcomes are seen.
 *
 * Only when strict rules continue some `q` with every one of the 37 strict characters, down to
 * partials, has `q` no free extension; then the witness takes, at that position, every
 * representative of the components starting with `q` (`q` itself, each literal and each
 * partial that starts with `q`, and each such partial's free extension), and the witnesses of
 * that rule and length are their product.
 *
 * Witnesses are valid concrete URIs for the realm's `uri_check`: strict components use
 * `[0-9a-z_]`, loose ones any character but whitespace, `.` and `#`. A pattern that matches no
 * valid URI (possible only for a pattern invalid under that check) covers `"none"`.
 *
 * Pure logic, no I/O.
 *
 * @module
 */

import type { Action, MatchPolicy } from "../config/types.ts";
import { isValidUri } from "../wamp/uris.ts";
import type { RolePermissions } from "./permissions.ts";

/** How much of a pattern's URIs a role may act on. */
export type Coverage = "all" | "none" | "some";

/** A rule or the pattern, split into components. */
interface Constraint {
  readonly match: MatchPolicy;
  readonly comps: readonly string[];
}

/** What a constraint asks of one component: equality with `text`, or to start with `text`. */
interface Force {
  readonly equal: boolean;
  readonly text: string;
}

const UNFORCED: Force = { equal: false, text: "" };

/** The shortest and longest URI (in components) a constraint can match; `Infinity` for prefix. */
function lengths(c: Constraint | null): [number, number] {
  if (c === null) return [1, Infinity];
  const len = c.comps.length;
  return c.match === "prefix" ? [len, Infinity] : [len, len];
}

/** What `c` asks of the component at position `i` of a URI it can match by length. */
function forceAt(c: Constraint | null, i: number): Force {
  if (c === null || i >= c.comps.length) return UNFORCED;
  const comp = c.comps[i]!;
  if (c.match === "prefix") return { equal: i < c.comps.length - 1, text: comp };
  if (c.match === "wildcard" && comp === "") return UNFORCED;
  return { equal: true, text: comp };
}

/** Both forces at once, or `null` when no component satisfies both. */
function combine(a: Force, b: Force): Force | null {
  if (a.equal && b.equal) return a.text === b.text ? a : null;
  if (a.equal) return a.text.startsWith(b.text) ? a : null;
  if (b.equal) return b.text.startsWith(a.text) ? b : null;
  if (a.text.startsWith(b.text)) return a;
  return b.text.startsWith(a.text) ? b : null;
}

/** Whether `c` is a valid (non-empty) component under the realm's URI check. */
function validComponent(c: string, strict: boolean): boolean {
  return !c.includes(".") && isValidUri(c, "exact", strict);
}

const STRICT_CHARS: readonly string[] = [..."_0123456789abcdefghijklmnopqrstuvwxyz"];

/** The valid component characters, strict ones first (then, when loose, the rest of the BMP). */
function* componentChars(strict: boolean): Generator<string> {
  yield* STRICT_CHARS;
  if (strict) return;
  for (let code = 0x21; code < 0xd800; code++) {
    const ch = String.fromCharCode(code);
    if (!STRICT_CHARS.includes(ch) && validComponent(ch, false)) yield ch;
  }
}

/** Whether some valid component satisfies `force`. */
function satisfiable(force: Force, strict: boolean): boolean {
  return force.equal || force.text !== "" ? validComponent(force.text, strict) : true;
}

/** The literals and partials of the rules at one position. */
class Position {
  readonly literals = new Set<string>();
  readonly partials = new Set<string>();
  readonly #free = new Map<string, string | null>();
  readonly #candidates = new Map<string, readonly string[]>();

  constructor(readonly strict: boolean) {}

  add(force: Force): void {
    (force.equal ? this.literals : this.partials).add(force.text);
  }

  /**
   * The shortest valid component longer than `q` that starts with `q`, starts with no partial
   * longer than `q` and equals no literal; `null` when there is none.
   */
  freeExtension(q: string): string | null {
    const known = this.#free.get(q);
    if (known !== undefined) return known;
    let found: string | null = null;
    const blockers = [...this.literals, ...this.partials];
    const queue = [q];
    search: for (let head = 0; head < queue.length; head++) {
      const t = queue[head]!;
      // the characters after t that lead towards some literal or partial
      const blocked = new Set<string>();
      for (const s of blockers) {
        if (s.length > t.length && s.startsWith(t)) blocked.add(s[t.length]!);
      }
      for (const ch of componentChars(this.strict)) {
        if (!blocked.has(ch)) {
          found = t + ch;
          break search;
        }
      }
      // every character is blocked (strict only): one deeper, never through a partial
      for (const ch of blocked) {
        const next = t + ch;
        if (validComponent(ch, this.strict) && !this.partials.has(next)) queue.push(next);
      }
    }
    this.#free.set(q, found);
    return found;
  }

  /**
   * The components that can stand for every component satisfying `force` here: the literal;
   * the free extension of the text to start with; failing that, every representative of the
   * components starting with it. Empty when no valid component satisfies `force`.
   * `force` comes from a rule or the pattern.
   */
  candidates(force: Force): readonly string[] {
    const key = `${force.equal ? "=" : "^"}${force.text}`;
    const known = this.#candidates.get(key);
    if (known !== undefined) return known;
    const q = force.text;
    let out: string[];
    if (force.equal) out = validComponent(q, this.strict) ? [q] : [];
    else if (q !== "" && !validComponent(q, this.strict)) out = [];
    else {
      const free = this.freeExtension(q);
      if (free !== null) out = [free];
      else {
        const all = new Set<string>();
        if (q !== "") all.add(q);
        for (const l of this.literals) {
          if (l.startsWith(q) && validComponent(l, this.strict)) all.add(l);
        }
        for (const p of this.partials) {
          if (p === "" || !p.startsWith(q) || !validComponent(p, this.strict)) continue;
          all.add(p);
          const ext = this.freeExtension(p);
          if (ext !== null) all.add(ext);
        }
        out = [...all];
      }
    }
    this.#candidates.set(key, out);
    return out;
  }
}

/**
 * Classifies the concrete URIs that `pattern` (under `match`) can match by whether the role
 * may perform `action` on them.
 *
 * @param role the role's permissions; `undefined` (an unknown role) covers nothing
 * @param pattern the URI or pattern of the SUBSCRIBE / REGISTER
 * @param match its match policy (`exact` is accepted too: its one URI is all or none)
 * @param action the action to check
 * @param strict `true` for the realm option `uri_check: "strict"`
 * @returns `"all"` when every matching URI is allowed, `"none"` when none is (or the pattern
 *   matches no valid URI), else `"some"`
 */
export function patternCoverage(
  role: RolePermissions | undefined,
  pattern: string,
  match: MatchPolicy,
  action: Action,
  strict: boolean,
): Coverage {
  if (role === undefined) return "none";
  const rules: { c: Constraint; allowed: boolean }[] = [];
  let ruleDepth = 0;
  for (const rule of role.rules()) {
    const c: Constraint = { match: rule.match, comps: rule.uri.split(".") };
    rules.push({ c, allowed: rule.allow[action] });
    ruleDepth = Math.max(ruleDepth, c.comps.length);
  }
  const positions: Position[] = [];
  for (let i = 0; i < ruleDepth; i++) positions.push(new Position(strict));
  for (const { c } of rules) {
    for (let i = 0; i < c.comps.length; i++) {
      const force = forceAt(c, i);
      if (force !== UNFORCED) positions[i]!.add(force);
    }
  }
  const p: Constraint = { match, comps: pattern.split(".") };
  // Beyond the rules, only the pattern asks anything: the first position there it cannot have.
  let unsatisfiable = Infinity;
  for (let i = ruleDepth; i < p.comps.length; i++) {
    if (!satisfiable(forceAt(p, i), strict)) {
      unsatisfiable = i;
      break;
    }
  }

  let outcomes = 0; // bit 1: an allowed witness seen; bit 2: a denied one
  const [patternMin, patternMax] = lengths(p);
  // "no rule matches" (deny) first, then every rule as the one that decides
  const targets: { c: Constraint | null; bit: number }[] = [
    { c: null, bit: 2 },
    ...rules.map((r) => ({ c: r.c, bit: r.allowed ? 1 : 2 })),
  ];
  for (const target of targets) {
    if ((outcomes & target.bit) !== 0) continue; // this outcome is known already
    const [targetMin, targetMax] = lengths(target.c);
    const lo = Math.max(patternMin, targetMin);
    const hi = Math.min(patternMax, targetMax);
    // each length up to the rule depth, then the shortest one beyond it for all of those
    const sizes: number[] = [];
    for (let m = lo; m <= Math.min(hi, ruleDepth); m++) sizes.push(m);
    const beyond = Math.max(lo, ruleDepth + 1);
    if (beyond <= hi) sizes.push(beyond);
    for (const m of sizes) {
      if (unsatisfiable < m) continue; // the pattern matches no valid URI this long
      const head = Math.min(m, ruleDepth);
      const choices: (readonly string[])[] = [];
      for (let i = 0; i < head; i++) {
        const force = combine(forceAt(target.c, i), forceAt(p, i));
        const list = force === null ? [] : positions[i]!.candidates(force);
        if (list.length === 0) break;
        choices.push(list);
      }
      if (choices.length < head) continue; // no valid URI of this length matches both
      // past the rules one component, which no rule looks at, stands for the rest
      if (m > ruleDepth) choices.push([STRICT_CHARS[0]!]);
      // every combination (one unless strict rules exhaust a position), odometer order
      const index = new Array<number>(choices.length).fill(0);
      for (;;) {
        const uri = index.map((k, i) => choices[i]![k]).join(".");
        outcomes |= role.authorize(uri, action).allowed ? 1 : 2;
        if (outcomes === 3) return "some";
        let i = choices.length - 1;
        while (i >= 0 && ++index[i]! === choices[i]!.length) index[i--] = 0;
        if (i < 0) break;
      }
    }
  }
  return outcomes === 1 ? "all" : "none";
}
