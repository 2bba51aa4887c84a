/**
 * Retained events of the whole cluster in bucket `sb_retained` (docs/cluster.md, "Events"): one
 * key per (realm, topic), its value the topic's retained events as every broker keeps them
 * (`retainedAfter` in broker.ts), written by the publisher's node with compare-and-set so two
 * nodes retaining on one topic at once both count. A subscription with `get_retained` on any
 * node reads the bucket directly (after this node's own writes in flight).
 *
 * @module
 */

import type { Logger } from "../log.ts";
import { retainedAfter, retainedRecordOf } from "../router/broker.ts";
import type { PublicationRecord, RetainedRecord } from "../router/realm_link.ts";
import { uriMatches } from "../wamp/uri_index.ts";
import type { MatchPolicy } from "../wamp/uris.ts";
import { CodecError, decode, encode } from "./codec.ts";
import { type KvBucket, KvConflictError } from "./link.ts";
import { encodeToken, parseUriKey, SubjectEncodingError, uriKey } from "./subjects.ts";

/** The bucket of retained events. */
export const RETAINED_BUCKET = "sb_retained";
/** Compare-and-set attempts of one retained write before it is given up (logged). */
export const RETAINED_WRITE_ATTEMPTS = 8;

function asRecords(value: unknown): RetainedRecord[] | null {
  if (!Array.isArray(value)) return null;
  for (const r of value) {
    if (typeof r !== "object" || r === null || typeof r.topic !== "string") return null;
    if (typeof r.options !== "object" || r.options === null) return null;
    const p = r.publisher;
    if (typeof p !== "object" || p === null || !Number.isSafeInteger(p.id)) return null;
    if (typeof p.authid !== "string" || typeof p.authrole !== "string") return null;
    if (typeof r.ppt !== "boolean" || (r.base !== null && typeof r.base !== "object")) return null;
  }
  return value as RetainedRecord[];
}

/** The cluster's retained events. */
export class RetainedStore {
  readonly #bucket: KvBucket;
  readonly #logger: Logger;
  /** This node's writes in flight, per realm: reads wait for them. */
  readonly #pending = new Map<string, Set<Promise<unknown>>>();

  constructor(bucket: KvBucket, logger: Logger) {
    this.#bucket = bucket;
    this.#logger = logger;
  }

  /**
   * Records a publication with `retain: true` of `realm`; resolves when it is stored (or its
   * failure logged: never rejects).
   */
  store(realm: string, publication: PublicationRecord): Promise<void> {
    return this.storeAll(realm, publication.topic, [retainedRecordOf(publication)]).then(() => {});
  }

  /**
   * Records retained events of one topic of `realm`, oldest first, in one compare-and-set (each
   * applied as if just published, after what the bucket holds); resolves true once stored,
   * false when the write failed (logged: never rejects).
   */
  storeAll(realm: string, topic: string, records: readonly RetainedRecord[]): Promise<boolean> {
    let pending = this.#pending.get(realm);
    if (!pending) this.#pending.set(realm, pending = new Set());
    const write = this.#write(realm, topic, records).then(() => true, (e) => {
      this.#logger.warn("cluster: retained event not stored", {
        realm,
        topic,
        error: String(e),
      });
      return false;
    }).finally(() => {
      pending.delete(write);
    });
    pending.add(write);
    return write;
  }

  async #write(realm: string, topic: string, records: readonly RetainedRecord[]): Promise<void> {
    const key = uriKey(realm, "exact", topic);
    for (let attempt = 0; attempt < RETAINED_WRITE_ATTEMPTS; attempt++) {
      const entry = await this.#bucket.get(key);
      const old = entry ? this.#decode(entry.value) ?? [] : [];
      const value = encode(records.reduce<RetainedRecord[]>(retainedAfter, old));
      try {
        if (entry) await this.#bucket.update(key, value, entry.revision);
        else await this.#bucket.create(key, value);
        return;
      } catch (e) {
        if (!(e instanceof KvConflictError)) throw e;
      }
    }
    throw new Error(`${RETAINED_WRITE_ATTEMPTS} concurrent writes in a row`);
  }

  #decode(value: Uint8Array): RetainedRecord[] | null {
    try {
      return asRecords(decode(value));
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      return null;
    }
  }

  /** The retained events of `realm` whose topic (uri, match) matches. */
  async read(realm: string, uri: string, match: MatchPolicy): Promise<RetainedRecord[]> {
    await Promise.all([...this.#pending.get(realm) ?? []]);
    const keys = match === "exact"
      ? [uriKey(realm, "exact", uri)]
      : (await this.#bucket.keys(`${encodeToken(realm)}.e.`)).filter((key) => {
        try {
          const parsed = parseUriKey(key);
          return parsed.realm === realm && uriMatches(uri, match, parsed.uri);
        } catch (e) {
          if (!(e instanceof SubjectEncodingError)) throw e;
          return false;
        }
      });
    const out: RetainedRecord[] = [];
    for (const entries of await Promise.all(keys.map((k) => this.#bucket.get(k)))) {
      if (!entries) continue;
      const records = this.#decode(entries.value);
      if (records) out.push(...records);
      else this.#logger.warn("cluster: malformed retained entry ignored", { realm });
    }
    return out;
  }
}
