/**
 * One {@link RealmLink} made of several: a realm holds one link, and the cluster's pieces
 * (events, sessions and meta API, ...) each implement the hooks they need. Every hook goes to
 * every piece, in order; `interest` waits for all of them, `retained` comes from the first
 * piece that offers it.
 *
 * @module
 */

import type { PublicationRecord, RealmLink, RetainedRecord } from "../router/realm_link.ts";
import type { SessionDetails } from "../router/session.ts";
import type { SessionRef } from "../router/session_ref.ts";
import type { MatchPolicy } from "../wamp/uris.ts";

/** The link that hands every hook to each of `links`. */
export function combineLinks(...links: RealmLink[]): RealmLink {
  return {
    interest(uri: string, match: MatchPolicy): Promise<void> | null {
      const waits = links.map((l) => l.interest?.(uri, match) ?? null).filter((p) => p !== null);
      return waits.length === 0 ? null : Promise.all(waits).then(() => {});
    },
    interestRemoved(uri: string, match: MatchPolicy): void {
      for (const l of links) l.interestRemoved?.(uri, match);
    },
    published(record: PublicationRecord): void {
      for (const l of links) l.published?.(record);
    },
    retained(uri: string, match: MatchPolicy): Promise<readonly RetainedRecord[]> | null {
      for (const l of links) {
        const r = l.retained?.(uri, match);
        if (r) return r;
      }
      return null;
    },
    sessionJoined(session: SessionRef, details: SessionDetails): void {
      for (const l of links) l.sessionJoined?.(session, details);
    },
    sessionLeft(session: SessionRef): void {
      for (const l of links) l.sessionLeft?.(session);
    },
    close(): void {
      for (const l of links) l.close?.();
    },
  };
}
