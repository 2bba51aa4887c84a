/**
 * A CALL that finds no registration on its node may be to a procedure registered elsewhere a
 * moment ago, which this node's watch of `sb_regs` has not brought yet (typically: a client
 * hears of the registration through an event, which can overtake the watch). Before answering
 * `no_such_procedure`, the node reads the bucket, applies what it finds, and routes the CALL
 * again, so the dealer resolves exact > longest prefix > wildcard as usual:
 *
 * - the procedure's exact key, read at once (not for a procedure whose exact key would be too
 *   long for the bucket: it can never be registered exactly); when it holds a registration, the
 *   CALL goes there without waiting for the patterns;
 * - the realm's prefix and wildcard keys: their keys cannot be derived from the procedure, so
 *   the node lists them (`<realm>.p.` and `<realm>.w.`) and reads those whose pattern matches
 *   (reserved ones excepted: a node never applies them from the bucket).
 *
 * Listing is the costly part, and any caller can make misses (CALLs to procedures nobody
 * registered), so it is bounded per realm whatever the rate of misses: one listing round (the
 * two key listings) at a time, shared by every miss that arrives meanwhile, which all wait for
 * the one next round (it starts after the miss, so it sees what was registered before it); and
 * rounds are rate limited, {@link PATTERN_LISTING_BURST} back to back, then one per
 * {@link PATTERN_LISTING_INTERVAL_MS}. A burst of misses costs at most two rounds; sustained
 * misses at most one round per interval, each miss then waiting up to the interval. Reads of one
 * pattern key are shared the same way while in flight; the exact key is read once per miss.
 *
 * Progressive call invocations are not looked up (their later chunks would race the lookup).
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { Logger } from "../log.ts";
import type { SessionRef } from "../router/session_ref.ts";
import { WampError } from "../wamp/errors.ts";
import { MessageType as T } from "../wamp/message_type.ts";
import type { Call, ErrorMessage } from "../wamp/messages.ts";
import { UriIndex } from "../wamp/uri_index.ts";
import { isReservedUri } from "../wamp/uris.ts";
import type { KvBucket } from "./link.ts";
import type { CallsHost } from "./remote_calls.ts";
import { MAX_KEY_LENGTH } from "./registration_wire.ts";
import { encodeToken, parseUriKey, SubjectEncodingError, uriKey } from "./subjects.ts";

/** Listing rounds of one realm's pattern keys that may run back to back (the burst allowed). */
export const PATTERN_LISTING_BURST = 4;

/** Once the burst is spent, one more listing round of a realm per this many ms. */
export const PATTERN_LISTING_INTERVAL_MS = 100;

/** What the lookup needs of its node (`ClusterRegistrations`). */
export interface MissLookupNode {
  /** Reads a key from the bucket now and applies it if newer. */
  refresh(key: string): Promise<void>;
  readonly host: CallsHost;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The `Dealer.onMiss` of realm `realm`: looks the procedure up in `bucket()` (null while it is
 * not open), then calls again.
 */
export function lookupOnMiss(
  regs: MissLookupNode,
  realm: string,
  bucket: () => KvBucket | null,
): (caller: SessionRef, msg: Call, disclose: boolean) => boolean {
  const { host, logger } = regs;
  const patterns = new PatternListing(realm, bucket, regs.clock, logger);
  /** Reads of pattern keys in flight, shared by the misses that need them. */
  const reading = new Map<string, Promise<void>>();
  const read = (key: string) => {
    let pending = reading.get(key);
    if (!pending) {
      pending = regs.refresh(key).finally(() => reading.delete(key));
      reading.set(key, pending);
    }
    return pending;
  };
  const failed = (procedure: string) => (e: unknown) => {
    logger.warn("a registration lookup failed", { procedure, error: String(e) });
  };
  let again = false;
  return (caller, msg, disclose) => {
    if (again) return false;
    const { procedure } = msg;
    const key = uriKey(realm, "exact", procedure);
    // (a key too long is never registered: see registration_wire.ts)
    const exact = key.length > MAX_KEY_LENGTH ? Promise.resolve() : regs.refresh(key);
    const matching = patterns.list().then((keys) => Promise.all(keys.matchAll(procedure).map(read)))
      .catch(failed(procedure));
    const id = caller.id;
    // An exact registration wins over any pattern: once found, the CALL need not wait for them.
    const found = () => host.realm(realm)?.dealer.lookup(procedure, "exact") !== undefined;
    exact.catch(failed(procedure)).then(() => found() ? undefined : matching).finally(() => {
      const here = host.realm(realm);
      if (!here || here.sessions.get(id) !== caller) return;
      again = true;
      try {
        here.dealer.call(caller, msg, disclose);
      } catch (e) {
        if (!(e instanceof WampError)) {
          logger.warn("a call after a registration lookup failed", { error: String(e) });
          return;
        }
        const error: ErrorMessage = {
          type: T.ERROR,
          requestType: T.CALL,
          request: msg.request,
          details: {},
          error: e.uri,
        };
        const args = e.payloadArgs();
        if (args) error.args = args;
        caller.send(error);
      } finally {
        again = false;
      }
    });
    return true;
  };
}

/**
 * The prefix and wildcard keys of one realm, listed in rounds (see the module doc); a round's
 * keys are indexed by their pattern, so a miss finds those that match without a scan.
 */
class PatternListing {
  /** Rounds that may start now without waiting (fractions accrue over time). */
  #tokens = PATTERN_LISTING_BURST;
  /** When {@link #tokens} was last brought up to date. */
  #at: number;
  /** The round running (settled when none is). */
  #running: Promise<void> = Promise.resolve();
  /** The next round, not started yet, that the misses arriving now wait for. */
  #next: Promise<UriIndex<string>> | null = null;

  constructor(
    readonly realm: string,
    readonly bucket: () => KvBucket | null,
    readonly clock: Clock,
    readonly logger: Logger,
  ) {
    this.#at = clock.nowMs();
  }

  /** The keys as a round that starts after this call lists them (empty when it fails). */
  list(): Promise<UriIndex<string>> {
    return this.#next ??= this.#round();
  }

  async #round(): Promise<UriIndex<string>> {
    await this.#running;
    for (let wait = this.#wait(); wait > 0; wait = this.#wait()) {
      await new Promise<void>((resume) => this.clock.setTimer(resume, wait));
    }
    this.#tokens -= 1;
    // Misses from now on wait for a later round: this one may have missed what they look for.
    this.#next = null;
    const round = this.#list();
    this.#running = round.then(() => {});
    return await round;
  }

  /** Ms until a round may start (0: now). */
  #wait(): number {
    const now = this.clock.nowMs();
    const earned = (now - this.#at) / PATTERN_LISTING_INTERVAL_MS;
    this.#tokens = Math.min(PATTERN_LISTING_BURST, this.#tokens + earned);
    this.#at = now;
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) * PATTERN_LISTING_INTERVAL_MS);
  }

  async #list(): Promise<UriIndex<string>> {
    const out = new UriIndex<string>();
    const bucket = this.bucket();
    if (!bucket) return out;
    const realm = encodeToken(this.realm);
    try {
      const lists = await Promise.all([bucket.keys(`${realm}.p.`), bucket.keys(`${realm}.w.`)]);
      for (const key of lists.flat()) {
        try {
          const { realm, match, uri } = parseUriKey(key);
          if (realm === this.realm && match !== "exact" && !isReservedUri(uri)) {
            out.set(uri, match, key);
          }
        } catch (e) {
          if (!(e instanceof SubjectEncodingError)) throw e;
        }
      }
      return out;
    } catch (e) {
      this.logger.warn("cannot list the pattern registrations", {
        realm: this.realm,
        error: String(e),
      });
      return new UriIndex();
    }
  }
}
