/**
 * An index of values keyed by (URI, match policy), with fast lookup of every entry that matches
 * a concrete URI (broker) and of the single best one (dealer, permissions).
 *
 * - `exact` entries live in a `Map`.
 * - `prefix` entries live in a compressed character trie (radix tree): matching walks the topic
 *   once, so its cost depends on the topic's length, not on the number of entries.
 * - `wildcard` entries live in a component trie whose empty-component child (`""`) stands for
 *   "any single component"; matching follows, at each level, the concrete child and the
 *   empty-component child only.
 *
 * Deleting an entry prunes the nodes that no longer lead to any entry. Pure data structure: no
 * I/O, no URI validation (callers check URIs with `isValidUri` first).
 *
 * @module
 */

import type { MatchPolicy } from "./uris.ts";

/** One entry of a {@link UriIndex}, as returned by {@link UriIndex.best} and friends. */
export interface UriMatch<T> {
  /** The stored value. */
  readonly value: T;
  /** The URI or pattern the entry was stored under. */
  readonly uri: string;
  /** The entry's match policy. */
  readonly match: MatchPolicy;
}

/** Callback of {@link UriIndex.forEachMatch}. */
export type UriMatchCallback<T> = (value: T, uri: string, match: MatchPolicy) => void;

/** Node of the prefix radix tree. `label` is the text on the edge from the parent. */
interface PrefixNode<T> {
  label: string;
  /** Children keyed by the first UTF-16 code unit of their label. */
  children: Map<number, PrefixNode<T>> | undefined;
  entry: UriMatch<T> | undefined;
}

/** Node of the wildcard component trie. The child keyed `""` is the "any component" child. */
interface WildcardNode<T> {
  children: Map<string, WildcardNode<T>> | undefined;
  entry: UriMatch<T> | undefined;
}

/** Length of the common prefix of `a` and `b.slice(offset)`. */
function commonPrefixLength(a: string, b: string, offset: number): number {
  const max = Math.min(a.length, b.length - offset);
  let i = 0;
  while (i < max && a.charCodeAt(i) === b.charCodeAt(offset + i)) i++;
  return i;
}

/**
 * Whether `topic` matches `pattern` under `match` (exact: equal; prefix: plain string prefix;
 * wildcard: same number of components, empty pattern components match any single component).
 * A linear reference check for one pattern; use {@link UriIndex} for many.
 *
 * @param pattern the subscribed / registered / permitted URI or pattern
 * @param match its match policy
 * @param topic the concrete URI
 * @returns `true` when `topic` matches
 */
export function uriMatches(pattern: string, match: MatchPolicy, topic: string): boolean {
  switch (match) {
    case "exact":
      return pattern === topic;
    case "prefix":
      return topic.startsWith(pattern);
    case "wildcard": {
      const p = pattern.split(".");
      const t = topic.split(".");
      if (p.length !== t.length) return false;
      for (let i = 0; i < p.length; i++) {
        if (p[i] !== "" && p[i] !== t[i]) return false;
      }
      return true;
    }
  }
}

/**
 * Values keyed by (URI, match policy). The same URI string under different match policies gives
 * different entries.
 *
 * @typeParam T the stored value (a subscription, a registration, a permission rule, …)
 */
export class UriIndex<T> {
  readonly #exact = new Map<string, UriMatch<T>>();
  readonly #prefixes = new Map<string, UriMatch<T>>();
  readonly #wildcards = new Map<string, UriMatch<T>>();
  readonly #prefixRoot: PrefixNode<T> = { label: "", children: undefined, entry: undefined };
  readonly #wildcardRoot: WildcardNode<T> = { children: undefined, entry: undefined };
  #visited = 0;

  /** Number of entries (all match policies). */
  get size(): number {
    return this.#exact.size + this.#prefixes.size + this.#wildcards.size;
  }

  /**
   * Diagnostic counter: total number of lookups and trie nodes visited by the matching methods
   * (`matchAll`, `forEachMatch`, `best`, `longestPrefix`, `bestWildcard`) since construction.
   * Lets tests check that matching does not scan all entries.
   */
  get nodesVisited(): number {
    return this.#visited;
  }

  /**
   * Diagnostic: number of trie nodes currently allocated (prefix tree plus wildcard trie, roots
   * excluded). Lets tests check that deletion prunes. Walks both tries: O(nodes).
   */
  get nodeCount(): number {
    let count = 0;
    const prefixStack: PrefixNode<T>[] = [this.#prefixRoot];
    for (let node = prefixStack.pop(); node !== undefined; node = prefixStack.pop()) {
      if (node.children === undefined) continue;
      for (const child of node.children.values()) {
        count++;
        prefixStack.push(child);
      }
    }
    const wildcardStack: WildcardNode<T>[] = [this.#wildcardRoot];
    for (let node = wildcardStack.pop(); node !== undefined; node = wildcardStack.pop()) {
      if (node.children === undefined) continue;
      for (const child of node.children.values()) {
        count++;
        wildcardStack.push(child);
      }
    }
    return count;
  }

  #map(match: MatchPolicy): Map<string, UriMatch<T>> {
    switch (match) {
      case "exact":
        return this.#exact;
      case "prefix":
        return this.#prefixes;
      case "wildcard":
        return this.#wildcards;
    }
  }

  /**
   * The value stored under exactly (`uri`, `match`) — no pattern matching.
   *
   * @param uri the URI or pattern as stored
   * @param match its match policy
   * @returns the value, or `undefined`
   */
  get(uri: string, match: MatchPolicy): T | undefined {
    return this.#map(match).get(uri)?.value;
  }

  /**
   * Whether an entry is stored under exactly (`uri`, `match`).
   *
   * @param uri the URI or pattern as stored
   * @param match its match policy
   * @returns `true` if present
   */
  has(uri: string, match: MatchPolicy): boolean {
    return this.#map(match).has(uri);
  }

  /**
   * Stores `value` under (`uri`, `match`), replacing any previous value.
   *
   * @param uri the URI or pattern
   * @param match its match policy
   * @param value the value
   * @returns this index
   */
  set(uri: string, match: MatchPolicy, value: T): this {
    const entry: UriMatch<T> = { value, uri, match };
    this.#map(match).set(uri, entry);
    if (match === "prefix") this.#prefixInsert(entry);
    else if (match === "wildcard") this.#wildcardInsert(entry);
    return this;
  }

  /**
   * Removes the entry stored under (`uri`, `match`) and prunes trie nodes left without entries.
   *
   * @param uri the URI or pattern as stored
   * @param match its match policy
   * @returns `true` if an entry was removed
   */
  delete(uri: string, match: MatchPolicy): boolean {
    if (!this.#map(match).delete(uri)) return false;
    if (match === "prefix") this.#prefixRemove(uri);
    else if (match === "wildcard") this.#wildcardRemove(uri);
    return true;
  }

  /** Removes every entry. */
  clear(): void {
    this.#exact.clear();
    this.#prefixes.clear();
    this.#wildcards.clear();
    this.#prefixRoot.children = undefined;
    this.#prefixRoot.entry = undefined;
    this.#wildcardRoot.children = undefined;
    this.#wildcardRoot.entry = undefined;
  }

  /**
   * Every entry as `[uri, match, value]`: exact entries, then prefix, then wildcard, each in
   * insertion order.
   *
   * @returns an iterator over the entries
   */
  *entries(): IterableIterator<[string, MatchPolicy, T]> {
    for (const map of [this.#exact, this.#prefixes, this.#wildcards]) {
      for (const e of map.values()) yield [e.uri, e.match, e.value];
    }
  }

  /**
   * Same as {@link UriIndex.entries}.
   *
   * @returns an iterator over `[uri, match, value]`
   */
  [Symbol.iterator](): IterableIterator<[string, MatchPolicy, T]> {
    return this.entries();
  }

  /**
   * Calls `fn` for every entry matching the concrete URI `topic`: the exact entry equal to it,
   * every prefix entry that is a plain string prefix of it (`""` matches everything), every
   * wildcard entry with as many components whose non-empty components are equal. `fn` must not
   * modify this index; use {@link UriIndex.matchAll} when it needs to.
   *
   * @param topic the concrete URI (e.g. a PUBLISH topic)
   * @param fn called once per matching entry
   */
  forEachMatch(topic: string, fn: UriMatchCallback<T>): void {
    this.#visited++;
    const exact = this.#exact.get(topic);
    if (exact !== undefined) fn(exact.value, exact.uri, exact.match);
    if (this.#prefixes.size > 0) this.#prefixSearch(topic, fn);
    if (this.#wildcards.size > 0) this.#wildcardSearch(topic, fn);
  }

  /**
   * The values of every entry matching `topic` (see {@link UriIndex.forEachMatch}), exact first,
   * then prefix entries from shortest to longest, then wildcard entries.
   *
   * @param topic the concrete URI
   * @returns the matching values (a new array)
   */
  matchAll(topic: string): T[] {
    const out: T[] = [];
    this.forEachMatch(topic, (value) => {
      out.push(value);
    });
    return out;
  }

  /**
   * The single best entry for `topic` by the registration precedence of the spec: the exact entry;
   * else the longest matching prefix entry; else the best matching wildcard entry
   * (see {@link UriIndex.bestWildcard}).
   *
   * @param topic the concrete URI (e.g. a CALL procedure)
   * @returns the chosen entry, or `undefined` when nothing matches
   */
  best(topic: string): UriMatch<T> | undefined {
    this.#visited++;
    return this.#exact.get(topic) ?? this.longestPrefix(topic) ?? this.bestWildcard(topic);
  }

  /**
   * The exact entry for `topic`.
   *
   * @param topic the concrete URI
   * @returns the entry, or `undefined`
   */
  exactMatch(topic: string): UriMatch<T> | undefined {
    this.#visited++;
    return this.#exact.get(topic);
  }

  /**
   * The prefix entry with the longest URI that is a string prefix of `topic`.
   *
   * @param topic the concrete URI
   * @returns the entry, or `undefined`
   */
  longestPrefix(topic: string): UriMatch<T> | undefined {
    if (this.#prefixes.size === 0) return undefined;
    return this.#prefixSearch(topic, undefined);
  }

  /**
   * The best matching wildcard entry for `topic`: compared component by component from the left,
   * a concrete component beats an empty one at the first position where two matching patterns
   * differ (`a1.b2..d4` beats `a1...d4`; `a1.b2.c33..e5` beats `a1.b2..d4.e5`).
   *
   * @param topic the concrete URI
   * @returns the entry, or `undefined`
   */
  bestWildcard(topic: string): UriMatch<T> | undefined {
    if (this.#wildcards.size === 0) return undefined;
    return this.#wildcardSearch(topic, undefined);
  }

  // ---------------------------------------------------------------- prefix radix tree

  /**
   * Walks the radix tree along `topic`, through every prefix entry of it, shortest first:
   * calls `fn` (where given) for each, and returns the last one met, the longest prefix.
   * `forEachMatch` and `longestPrefix` share this walk; without `fn` it calls nothing.
   */
  #prefixSearch(topic: string, fn: UriMatchCallback<T> | undefined): UriMatch<T> | undefined {
    let found: UriMatch<T> | undefined;
    let node: PrefixNode<T> = this.#prefixRoot;
    let pos = 0;
    for (;;) {
      this.#visited++;
      const entry = node.entry;
      if (entry !== undefined) {
        found = entry;
        if (fn !== undefined) fn(entry.value, entry.uri, entry.match);
      }
      if (node.children === undefined || pos >= topic.length) return found;
      const child = node.children.get(topic.charCodeAt(pos));
      if (child === undefined || !topic.startsWith(child.label, pos)) return found;
      pos += child.label.length;
      node = child;
    }
  }

  #prefixInsert(entry: UriMatch<T>): void {
    const uri = entry.uri;
    let node = this.#prefixRoot;
    let pos = 0;
    while (pos < uri.length) {
      const key = uri.charCodeAt(pos);
      node.children ??= new Map();
      const child = node.children.get(key);
      if (child === undefined) {
        node.children.set(key, { label: uri.slice(pos), children: undefined, entry });
        return;
      }
      const common = commonPrefixLength(child.label, uri, pos);
      if (common < child.label.length) {
        // Split the edge: node -> middle (common part) -> child (rest of its label).
        const middle: PrefixNode<T> = {
          label: child.label.slice(0, common),
          children: new Map(),
          entry: undefined,
        };
        child.label = child.label.slice(common);
        middle.children?.set(child.label.charCodeAt(0), child);
        node.children.set(key, middle);
        node = middle;
      } else {
        node = child;
      }
      pos += common;
    }
    node.entry = entry;
  }

  #prefixRemove(uri: string): void {
    const path: PrefixNode<T>[] = [this.#prefixRoot];
    let node = this.#prefixRoot;
    let pos = 0;
    while (pos < uri.length) {
      const child = node.children?.get(uri.charCodeAt(pos));
      if (child === undefined || !uri.startsWith(child.label, pos)) return;
      pos += child.label.length;
      node = child;
      path.push(node);
    }
    if (node.entry?.uri !== uri) return;
    node.entry = undefined;
    // Prune: drop childless nodes without entry; merge pass-through nodes into their only child.
    for (let i = path.length - 1; i > 0; i--) {
      const current = path[i]!;
      const parent = path[i - 1]!;
      if (current.entry !== undefined) break;
      const childCount = current.children?.size ?? 0;
      if (childCount === 0) {
        parent.children?.delete(current.label.charCodeAt(0));
        if (parent.children?.size === 0) parent.children = undefined;
        continue;
      }
      if (childCount === 1 && current.children !== undefined) {
        const only = current.children.values().next().value as PrefixNode<T>;
        only.label = current.label + only.label;
        parent.children?.set(only.label.charCodeAt(0), only);
      }
      break;
    }
  }

  // ---------------------------------------------------------------- wildcard component trie

  /**
   * Finds the wildcard entries matching `topic`, best first (see {@link UriIndex.bestWildcard}):
   * with `fn`, calls it for every one and returns undefined; without, returns the first, the
   * best, and stops there. `forEachMatch` and `bestWildcard` share this walk.
   */
  #wildcardSearch(topic: string, fn: UriMatchCallback<T> | undefined): UriMatch<T> | undefined {
    const components = topic.split(".");
    const depthTarget = components.length;
    // Depth-first, concrete child before the empty-component child: the first complete match is
    // the best one. Explicit stacks, so deep patterns cannot overflow the call stack.
    const nodes: WildcardNode<T>[] = [this.#wildcardRoot];
    const depths: number[] = [0];
    while (nodes.length > 0) {
      const node = nodes.pop() as WildcardNode<T>;
      const depth = depths.pop() as number;
      this.#visited++;
      if (depth === depthTarget) {
        const entry = node.entry;
        if (entry !== undefined) {
          if (fn === undefined) return entry;
          fn(entry.value, entry.uri, entry.match);
        }
        continue;
      }
      const children = node.children;
      if (children === undefined) continue;
      const component = components[depth]!;
      const any = children.get("");
      if (any !== undefined) {
        nodes.push(any);
        depths.push(depth + 1);
      }
      if (component !== "") {
        const concrete = children.get(component);
        if (concrete !== undefined) {
          nodes.push(concrete);
          depths.push(depth + 1);
        }
      }
    }
    return undefined;
  }

  #wildcardInsert(entry: UriMatch<T>): void {
    let node = this.#wildcardRoot;
    for (const component of entry.uri.split(".")) {
      node.children ??= new Map();
      let child = node.children.get(component);
      if (child === undefined) {
        child = { children: undefined, entry: undefined };
        node.children.set(component, child);
      }
      node = child;
    }
    node.entry = entry;
  }

  #wildcardRemove(uri: string): void {
    const components = uri.split(".");
    const path: WildcardNode<T>[] = [this.#wildcardRoot];
    let node = this.#wildcardRoot;
    for (const component of components) {
      const child = node.children?.get(component);
      if (child === undefined) return;
      node = child;
      path.push(node);
    }
    node.entry = undefined;
    for (let i = path.length - 1; i > 0; i--) {
      const current = path[i]!;
      if (current.entry !== undefined || current.children !== undefined) break;
      const parent = path[i - 1]!;
      parent.children?.delete(components[i - 1]!);
      if (parent.children?.size === 0) parent.children = undefined;
    }
  }
}
