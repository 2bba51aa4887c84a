/**
 * The status page's life: connecting to the chosen realm, subscribing to the meta events,
 * reloading every few seconds, and saying clearly why it is not connected (with automatic
 * reconnection, except after a refusal). Redraws are batched per turn of the event loop.
 *
 * @module
 */

import { Connection, type ConnectionEvents, type Ending } from "./connection.ts";
import { byId } from "./dom.ts";
import { Loaders } from "./loaders.ts";
import type { Dict } from "./messages.ts";
import { type ObjectKind, PageModel } from "./model.ts";
import { draw, notice, setState } from "./view.ts";

/** How often everything is reloaded besides the live events. */
const REFRESH_MS = 5000;
/** The first reconnection delay (doubled per failure up to `MAX_RETRY_MS`). */
const FIRST_RETRY_MS = 2000;
const MAX_RETRY_MS = 30000;

/** An ABORT's or GOODBYE's reason and message. */
function detail(e: Ending): string {
  return e.reason + (e.message ? " \u2014 " + e.message : "");
}

/** Why the connection is gone (when it was not refused), for the notice. */
function lostReason(c: Connection, ev: CloseEvent): string {
  const end = c.ended;
  if (end && end.kind === "goodbye") return "The router closed the session (" + detail(end) + ").";
  if (end && end.kind === "protocol") return "Protocol problem: " + end.message + ".";
  if (!c.opened) return "Cannot connect to " + c.url + " (WebSocket close code " + ev.code + ").";
  if (c.sessionId === null) {
    return "The connection closed before the session opened (code " + ev.code + ").";
  }
  return "The connection to the router was lost (code " + ev.code + ").";
}

/** What the page was told by the router (validated). */
export interface PageSettings {
  /** The WebSocket path that speaks JSON, or null. */
  readonly wampPath: string | null;
}

/** The page: one connection at a time to one realm. */
export class StatusApp {
  readonly #wampPath: string | null;
  readonly #loaders: Loaders;
  #conn: Connection | null = null;
  #model = new PageModel();
  #realm: string | null = null;
  #retryTimer = 0;
  #retryDelay = FIRST_RETRY_MS;
  #refreshTimer = 0;
  #renderQueued = false;

  constructor(settings: PageSettings) {
    this.#wampPath = settings.wampPath;
    // The loaders see the page's connection and model as they are at each step.
    this.#loaders = new Loaders({
      conn: () => this.#conn,
      model: () => this.#model,
      render: () => this.#render(),
    });
  }

  /** The realm connected to (null: the router has none). */
  get realm(): string | null {
    return this.#realm;
  }

  /** Switches to `realm` (or reconnects to it) at once, with the retry delay reset. */
  connectTo(realm: string | null): void {
    this.#realm = realm;
    this.#retryDelay = FIRST_RETRY_MS;
    this.#connect();
  }

  /** Leaves the realm (the page is going away). */
  leave(): void {
    if (this.#conn) this.#conn.close("wamp.close.close_realm");
  }

  #render(): void {
    if (this.#renderQueued) return;
    this.#renderQueued = true;
    setTimeout(() => {
      this.#renderQueued = false;
      draw(this.#model, {
        joined: this.#conn !== null && this.#conn.sessionId !== null,
        wampPath: this.#wampPath,
        refreshMs: REFRESH_MS,
      });
    }, 0);
  }

  #refreshAll(): void {
    this.#loaders.refreshAll();
  }

  /** Subscribes to the meta events on a new session, then loads everything. */
  async #start(c: Connection): Promise<void> {
    const live = (f: (args: unknown[]) => void) => (args: unknown[]) => {
      if (c === this.#conn) f(args);
    };
    const sub = (topic: string, area: string, f: (args: unknown[]) => void) =>
      c.subscribe(topic, live(f)).then(
        () => this.#model.setError(area + ".sub:" + topic, null),
        (e) => {
          if (c === this.#conn) this.#model.setError(area + ".sub:" + topic, e);
        },
      );
    const onJoin = (args: unknown[]) => {
      const d = args[0];
      if (!d || typeof d !== "object" || !("session" in d) || typeof d.session !== "number") {
        return;
      }
      if (this.#model.left.has(d.session)) return;
      this.#model.sessions.set(d.session, d as Dict);
      this.#changed();
    };
    const onLeave = (args: unknown[]) => {
      if (typeof args[0] !== "number") return;
      this.#model.forget(args[0]);
      this.#changed();
    };
    const onStats = (args: unknown[]) => {
      const s = args[0];
      const st = args[1];
      if (!s || typeof s !== "object" || !("session" in s) || typeof s.session !== "number") {
        return;
      }
      if (!st || typeof st !== "object" || this.#model.left.has(s.session)) return;
      this.#model.stats.set(s.session, st as Dict);
      this.#changed();
    };
    const soon = (kind: ObjectKind) => () => this.#loaders.soon(kind);
    await Promise.all([
      sub("wamp.session.on_join", "sessions", onJoin),
      sub("wamp.session.on_leave", "sessions", onLeave),
      sub("wamp.session.on_stats", "sessions", onStats),
      sub("wamp.subscription.on_create", "subs", soon("subs")),
      sub("wamp.subscription.on_delete", "subs", soon("subs")),
      sub("wamp.subscription.on_subscribe", "subs", soon("subs")),
      sub("wamp.subscription.on_unsubscribe", "subs", soon("subs")),
      sub("wamp.registration.on_create", "regs", soon("regs")),
      sub("wamp.registration.on_delete", "regs", soon("regs")),
      sub("wamp.registration.on_register", "regs", soon("regs")),
      sub("wamp.registration.on_unregister", "regs", soon("regs")),
    ]);
    if (c !== this.#conn) return;
    this.#render();
    this.#refreshAll();
    clearInterval(this.#refreshTimer);
    this.#refreshTimer = setInterval(() => this.#refreshAll(), REFRESH_MS);
  }

  #changed(): void {
    this.#model.updated = Date.now();
    this.#render();
  }

  readonly #events: ConnectionEvents = {
    welcome: (c, id, details) => {
      if (c !== this.#conn) return;
      this.#retryDelay = FIRST_RETRY_MS;
      this.#model.self = id;
      this.#model.authrole = details.authrole;
      setState("connected to " + c.realm, "ok");
      notice("");
      byId("main").classList.remove("stale");
      this.#render();
      this.#start(c);
    },
    closed: (c, ev) => {
      if (c !== this.#conn) return;
      this.#conn = null;
      clearInterval(this.#refreshTimer);
      byId("main").classList.add("stale");
      this.#render();
      const end = c.ended;
      if (end && end.kind === "abort") {
        // No automatic retry: repeated refusals count as authentication failures.
        setState("refused", "bad");
        notice(
          "The router refused the page's session on realm \u201c" + c.realm + "\u201d: " +
            detail(end) + ". The page joins anonymously (roles subscriber and caller); it " +
            "needs a transport that allows anonymous access and permission to call and " +
            "subscribe to the wamp.* meta API.",
          "error",
          true,
        );
        return;
      }
      const seconds = Math.round(this.#retryDelay / 1000);
      const why = lostReason(c, ev);
      setState("disconnected", "warn");
      notice(why + " Reconnecting in " + seconds + " s\u2026", "warn", true);
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => this.#connect(), this.#retryDelay);
      this.#retryDelay = Math.min(this.#retryDelay * 2, MAX_RETRY_MS);
    },
  };

  #connect(): void {
    clearTimeout(this.#retryTimer);
    clearInterval(this.#refreshTimer);
    if (this.#conn) {
      this.#conn.close("wamp.close.close_realm");
      this.#conn = null;
    }
    this.#model = new PageModel();
    byId("main").classList.remove("stale");
    if (this.#wampPath === null) {
      setState("unavailable", "bad");
      notice(
        "This transport has no WebSocket path that speaks JSON (wamp.2.json), so the status " +
          'page cannot connect. Add "json" to the serializers of one of its paths.',
        "error",
        false,
      );
      this.#render();
      return;
    }
    const realm = this.#realm;
    if (realm === null) {
      setState("no realm", "bad");
      notice("The router has no realms.", "error", false);
      this.#render();
      return;
    }
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/" +
      this.#wampPath;
    setState("connecting to " + realm + "\u2026", "warn");
    notice("");
    this.#render();
    try {
      this.#conn = new Connection(url, realm, this.#events);
    } catch (e) {
      setState("unavailable", "bad");
      notice(
        "Cannot open a WebSocket to " + url + ": " + (e instanceof Error ? e.message : e),
        "error",
        true,
      );
    }
  }
}
