/**
 * Loading what the page shows through the meta API: the session list (details of the
 * sessions not yet known), and the subscriptions and registrations with their counts. Each
 * loader runs once at a time; asked again while it runs, it runs once more afterwards.
 * Answers that arrive for a connection that is no longer the page's are dropped.
 *
 * @module
 */

import { type Connection, RequestFailed } from "./connection.ts";
import { type Dict, dict } from "./messages.ts";
import type { ObjectKind, ObjectRow, PageModel } from "./model.ts";

/** What the loaders work on. */
export interface LoaderHost {
  /** The page's connection now (null while there is none). */
  conn(): Connection | null;
  /** The page's model now (a fresh one per connection). */
  model(): PageModel;
  /** Schedules a redraw. */
  render(): void;
}

type Task = (host: LoaderHost, c: Connection) => Promise<void>;

/** Runs `task` on the joined connection, never twice at once. */
class Refresher {
  readonly #host: LoaderHost;
  readonly #task: Task;
  #running = false;
  #again = false;
  #timer = 0;

  constructor(host: LoaderHost, task: Task) {
    this.#host = host;
    this.#task = task;
  }

  /** Runs now (or right after the run in progress). */
  async run(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    try {
      do {
        this.#again = false;
        const c = this.#host.conn();
        if (!c || c.sessionId === null) break;
        await this.#task(this.#host, c);
      } while (this.#again);
    } catch (e) {
      console.error(e);
    } finally {
      this.#running = false;
    }
  }

  /** Runs in a moment; calls within that moment make one run. */
  soon(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.run(), 100);
  }
}

/** Errors of `switchboard.cluster.nodes` that only mean there is no list to show. */
const NO_NODES = new Set(["wamp.error.no_such_procedure", "wamp.error.not_authorized"]);

/**
 * The cluster's nodes, if the router is a cluster node (else the procedure does not exist);
 * a role that may not call it sees no list, and no error for an optional extra.
 */
async function syncNodes(host: LoaderHost, c: Connection): Promise<void> {
  let nodes: Dict[] | null = null;
  try {
    const list = (await c.call("switchboard.cluster.nodes")).args[0];
    nodes = Array.isArray(list) ? list.map(dict) : null;
  } catch (e) {
    if (!(e instanceof RequestFailed && NO_NODES.has(e.uri ?? ""))) {
      if (c === host.conn()) host.model().setError("sessions.nodes", e);
    }
  }
  if (c !== host.conn()) return;
  if (nodes) host.model().setError("sessions.nodes", null);
  host.model().nodes = nodes;
}

async function syncSessions(host: LoaderHost, c: Connection): Promise<void> {
  await syncNodes(host, c);
  const known = new Set(host.model().sessions.keys());
  let ids: unknown;
  try {
    ids = (await c.call("wamp.session.list")).args[0];
  } catch (e) {
    if (c === host.conn()) {
      host.model().setError("sessions.list", e);
      host.render();
    }
    return;
  }
  if (c !== host.conn()) return;
  // While `c` is the page's connection, the page's model is the one made for it.
  const model = host.model();
  model.setError("sessions.list", null);
  model.listed = true;
  const listed: unknown[] = Array.isArray(ids) ? ids : [];
  const present = new Set(listed);
  // Sessions known before the list was asked for and missing from it have left.
  for (const id of known) if (!present.has(id)) model.forget(id);
  const missing = listed.filter((id): id is number =>
    typeof id === "number" && !model.sessions.has(id)
  );
  let failure: unknown = null;
  await Promise.all(missing.map((id) =>
    c.call("wamp.session.get", [id]).then((r) => {
      const d = r.args[0];
      if (c === host.conn() && !model.left.has(id) && d && typeof d === "object") {
        model.sessions.set(id, d as Dict);
      }
    }, (e) => {
      if (!(e instanceof RequestFailed && e.uri === "wamp.error.no_such_session")) failure = e;
    })
  ));
  if (c !== host.conn()) return;
  model.setError("sessions.get", failure);
  model.updated = Date.now();
  host.render();
}

function objectLoader(kind: ObjectKind): Task {
  const prefix = kind === "subs" ? "wamp.subscription." : "wamp.registration.";
  const counter = prefix + (kind === "subs" ? "count_subscribers" : "count_callees");
  const gone = kind === "subs"
    ? "wamp.error.no_such_subscription"
    : "wamp.error.no_such_registration";
  return async (host, c) => {
    try {
      const groups = dict((await c.call(prefix + "list")).args[0]);
      const ids = ([] as unknown[]).concat(
        groups.exact || [],
        groups.prefix || [],
        groups.wildcard || [],
      );
      const rows = await Promise.all(
        ids.map((id) =>
          Promise.all([c.call(prefix + "get", [id]), c.call(counter, [id])]).then(
            ([g, n]): ObjectRow => {
              const x = dict(g.args[0]);
              return {
                id,
                uri: x.uri,
                match: x.match,
                invoke: x.invoke,
                created: x.created,
                count: n.args[0],
              };
            },
            (e) => {
              if (e instanceof RequestFailed && e.uri === gone) return null;
              throw e;
            },
          )
        ),
      );
      if (c !== host.conn()) return;
      host.model()[kind] = rows.filter((x) => x !== null).sort((a, b) =>
        String(a.uri) < String(b.uri)
          ? -1
          : String(a.uri) > String(b.uri)
          ? 1
          : Number(a.id) - Number(b.id)
      );
      host.model().setError(kind + ".list", null);
    } catch (e) {
      if (c !== host.conn()) return;
      host.model().setError(kind + ".list", e);
    }
    host.model().updated = Date.now();
    host.render();
  };
}

/** The page's three loaders. */
export class Loaders {
  readonly #sessions: Refresher;
  readonly #subs: Refresher;
  readonly #regs: Refresher;

  constructor(host: LoaderHost) {
    this.#sessions = new Refresher(host, syncSessions);
    this.#subs = new Refresher(host, objectLoader("subs"));
    this.#regs = new Refresher(host, objectLoader("regs"));
  }

  /** Reloads everything now. */
  refreshAll(): void {
    this.#sessions.run();
    this.#subs.run();
    this.#regs.run();
  }

  /** Reloads the subscriptions or registrations in a moment. */
  soon(kind: ObjectKind): void {
    (kind === "subs" ? this.#subs : this.#regs).soon();
  }
}
