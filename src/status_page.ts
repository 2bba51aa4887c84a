/**
 * The live status page served on `/status` of web transports: one self-contained HTML page
 * (no build step, no external assets) that connects back to the router over WAMP (JSON) and
 * shows realms, sessions, their latest statistics, subscriptions and registrations, live.
 *
 * The page speaks just enough WAMP itself (HELLO as subscriber + caller, SUBSCRIBE, CALL,
 * sequential request ids) and works under the router's Content-Security-Policy: inline
 * `<style>` and `<script>` only, WebSocket back to the same host. Everything it shows is
 * inserted as text (`textContent`), never as markup.
 *
 * @module
 */

/** What the page is rendered with. */
export interface StatusPageInfo {
  /** Realms of the router. */
  readonly realms: readonly string[];
  /** The web transport's WebSocket path that speaks JSON (the page connects to it), or null. */
  readonly wampPath: string | null;
  /** Router version. */
  readonly version: string;
}

/**
 * JSON that is safe inside a `<script type="application/json">` block: no `<`, `>` or `&`
 * (so no `</script>` or `<!--`), and no line separators.
 */
function embedJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** The HTML of the status page. */
export function statusPage(info: StatusPageInfo): string {
  const data = embedJson({
    realms: [...info.realms],
    wampPath: info.wampPath,
    version: info.version,
  });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Switchboard status</title>
<style>${STYLE}</style>
</head>
<body>
${BODY}
<script type="application/json" id="sb-info">${data}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

const STYLE = String.raw`
:root {
  color-scheme: light dark;
  --bg: #f5f6f8; --fg: #1d2330; --muted: #667085; --card: #fff; --line: #e2e5ea;
  --head: #f0f2f5; --accent: #2f5fd0; --ok: #1a7f37; --bad: #c62828; --warn: #9a6700;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14171c; --fg: #e6e8eb; --muted: #98a2b3; --card: #1c2027; --line: #2c323c;
    --head: #232830; --accent: #7aa2ff; --ok: #4ac26b; --bad: #ff6b6b; --warn: #e3b341;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", "DejaVu Sans", sans-serif;
}
header {
  display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 12px;
  padding: 12px 24px; background: var(--card); border-bottom: 1px solid var(--line);
}
h1 { font-size: 18px; margin: 0; }
.brand { display: flex; align-items: baseline; flex-wrap: wrap; gap: 4px 14px; }
.muted { color: var(--muted); }
.controls { display: flex; align-items: center; gap: 14px; }
select { font: inherit; padding: 3px 6px; border-radius: 6px; border: 1px solid var(--line);
  background: var(--card); color: var(--fg); }
.pill {
  display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px; border-radius: 999px;
  border: 1px solid var(--line); font-size: 12px; white-space: nowrap;
}
.pill::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--muted); }
.pill.ok::before { background: var(--ok); }
.pill.bad::before { background: var(--bad); }
.pill.warn::before { background: var(--warn); }
.notice {
  margin: 14px 24px 0; padding: 10px 14px; border-radius: 8px; border: 1px solid var(--line);
  background: var(--card); display: flex; align-items: center; gap: 14px;
}
.notice.error { border-color: var(--bad); }
.notice.error .notice-text { color: var(--bad); }
.notice.warn { border-color: var(--warn); }
button { font: inherit; padding: 3px 10px; border-radius: 6px; border: 1px solid var(--line);
  background: var(--head); color: var(--fg); cursor: pointer; }
main { padding: 4px 24px 16px; }
main.stale { opacity: .5; }
section { margin-top: 18px; }
h2 { font-size: 15px; margin: 0 0 8px; }
.count { font-weight: normal; color: var(--muted); margin-left: 6px; }
.section-error { color: var(--bad); margin: 0 0 8px; }
.table-wrap { overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: var(--head); font-weight: 600; font-size: 12px; color: var(--muted); }
th.group { text-align: center; border-left: 1px solid var(--line); }
.first-stat { border-left: 1px solid var(--line); }
tbody tr:last-child td { border-bottom: 0; }
tbody tr:hover td { background: var(--head); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono {
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace;
  font-size: 12.5px;
}
.tag { display: inline-block; padding: 0 6px; border-radius: 4px; background: var(--head);
  border: 1px solid var(--line); font-size: 12px; }
.badge { margin-left: 8px; padding: 1px 6px; border-radius: 4px; background: var(--accent);
  color: #fff; font-size: 11px; font-family: system-ui, sans-serif; }
tr.empty td { color: var(--muted); text-align: center; font-style: italic; }
footer { padding: 0 24px 24px; color: var(--muted); font-size: 12px; }
`;

const BODY = String.raw`<header>
  <div class="brand">
    <h1>Switchboard</h1>
    <span class="muted">version <span id="version"></span></span>
    <span class="muted">realms: <span id="realms"></span></span>
  </div>
  <div class="controls">
    <label>Realm <select id="realm"></select></label>
    <span id="state" class="pill">starting</span>
  </div>
</header>
<div id="notice" class="notice" role="alert" hidden><span id="notice-text" class="notice-text"></span><button id="retry" type="button" hidden>Retry now</button></div>
<main id="main">
  <section>
    <h2>Sessions<span id="sessions-count" class="count"></span></h2>
    <p id="sessions-error" class="section-error" hidden></p>
    <div class="table-wrap"><table id="sessions">
      <thead>
        <tr><th rowspan="2">Session</th><th rowspan="2">Authid</th><th rowspan="2">Role</th><th rowspan="2">Serializer</th><th rowspan="2">Peer</th><th colspan="5" class="group" title="Figures of the latest window reported by wamp.session.on_stats (per-window counts, both directions)">Latest statistics window</th></tr>
        <tr><th class="num first-stat">Messages</th><th class="num">Bytes</th><th class="num">Rated msgs</th><th class="num">Cycle</th><th>Reported</th></tr>
      </thead>
      <tbody id="sessions-body"></tbody>
    </table></div>
  </section>
  <section>
    <h2>Subscriptions<span id="subs-count" class="count"></span></h2>
    <p id="subs-error" class="section-error" hidden></p>
    <div class="table-wrap"><table id="subscriptions">
      <thead><tr><th>Topic</th><th>Match</th><th class="num">Subscribers</th><th>Created</th><th>Id</th></tr></thead>
      <tbody id="subs-body"></tbody>
    </table></div>
  </section>
  <section>
    <h2>Registrations<span id="regs-count" class="count"></span></h2>
    <p id="regs-error" class="section-error" hidden></p>
    <div class="table-wrap"><table id="registrations">
      <thead><tr><th>Procedure</th><th>Match</th><th>Invoke</th><th class="num">Callees</th><th>Created</th><th>Id</th></tr></thead>
      <tbody id="regs-body"></tbody>
    </table></div>
  </section>
</main>
<footer><span id="footer"></span></footer>`;

/*
 * The page's script. Plain JavaScript in a raw string: no backticks and no "${" inside (this
 * is a TypeScript template), and everything shown goes through textContent / text nodes.
 */
const SCRIPT = String.raw`
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let INFO = {};
  try { INFO = JSON.parse($("sb-info").textContent || "{}"); } catch (_e) { INFO = {}; }
  const REALMS = Array.isArray(INFO.realms) ? INFO.realms.filter((r) => typeof r === "string") : [];
  const WAMP_PATH = typeof INFO.wampPath === "string" ? INFO.wampPath : null;
  const M = { HELLO: 1, WELCOME: 2, ABORT: 3, GOODBYE: 6, ERROR: 8, SUBSCRIBE: 32,
    SUBSCRIBED: 33, EVENT: 36, CALL: 48, RESULT: 50 };
  const REFRESH_MS = 5000;
  const MAX_RETRY_MS = 30000;

  // ---- DOM helpers (text only) ------------------------------------------------------------

  function h(tag, props, children) {
    const e = document.createElement(tag);
    if (props) {
      if (props.cls) e.className = props.cls;
      if (props.title) e.title = String(props.title);
      if (props.colspan) e.colSpan = props.colspan;
      if (props.data) for (const k of Object.keys(props.data)) e.dataset[k] = String(props.data[k]);
    }
    for (const c of children || []) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  function text(v) {
    if (v === undefined || v === null || v === "") return "\u2014";
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    try { return JSON.stringify(v); } catch (_e) { return String(v); }
  }
  function num(v) {
    return typeof v === "number" && isFinite(v) ? v.toLocaleString("en-US") : text(v);
  }
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function fmtTime(ms, withDate) {
    if (typeof ms !== "number" || !isFinite(ms)) return "\u2014";
    const d = new Date(ms);
    if (isNaN(d.getTime())) return "\u2014";
    const t = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    if (!withDate) return t;
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + t;
  }
  /** A time of day for today, a date and time otherwise. */
  function fmtWhen(ms) {
    if (typeof ms !== "number" || !isFinite(ms)) return "—";
    const today = new Date().toDateString() === new Date(ms).toDateString();
    return fmtTime(ms, !today);
  }
  function isoOf(ms) {
    const d = new Date(ms);
    return isNaN(d.getTime()) ? "" : d.toISOString();
  }

  // ---- a minimal WAMP client (JSON) ------------------------------------------------------

  class WampError extends Error {
    constructor(uri, message) {
      super(message ? uri + ": " + message : String(uri));
      this.uri = uri;
    }
  }
  function errorText(args, kwargs) {
    if (Array.isArray(args) && typeof args[0] === "string") return args[0];
    if (kwargs && typeof kwargs.message === "string") return kwargs.message;
    return "";
  }
  const IGNORE = { welcome() {}, closed() {} };

  class Connection {
    constructor(url, realm, events) {
      this.url = url;
      this.realm = realm;
      this.events = events;
      this.nextId = 1;
      this.pending = new Map();
      this.handlers = new Map();
      this.sessionId = null;
      this.opened = false;
      this.closing = false;
      this.ended = null;
      this.ws = new WebSocket(url, ["wamp.2.json"]);
      this.ws.onopen = () => this.onOpen();
      this.ws.onmessage = (ev) => this.onMessage(ev);
      this.ws.onclose = (ev) => this.onClose(ev);
    }
    onOpen() {
      this.opened = true;
      if (this.ws.protocol !== "wamp.2.json") {
        this.end("protocol", "", "the router did not accept the wamp.2.json subprotocol");
        return;
      }
      this.send([M.HELLO, this.realm, {
        agent: "switchboard-status-page",
        roles: { subscriber: {}, caller: {} },
      }]);
    }
    end(kind, reason, message) {
      if (!this.ended) this.ended = { kind: kind, reason: reason, message: message };
      try { this.ws.close(1000); } catch (_e) { /* already closing */ }
    }
    send(msg) {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
    }
    request(build, extra) {
      if (this.sessionId === null || this.closing) {
        return Promise.reject(new Error("not connected"));
      }
      const id = this.nextId++;
      return new Promise((resolve, reject) => {
        this.pending.set(id, { resolve: resolve, reject: reject, handler: extra });
        this.send(build(id));
      });
    }
    call(procedure, args) {
      return this.request((id) => [M.CALL, id, {}, procedure, args || []])
        .catch((e) => { e.action = "call"; e.target = procedure; throw e; });
    }
    subscribe(topic, handler) {
      return this.request((id) => [M.SUBSCRIBE, id, {}, topic], handler)
        .catch((e) => { e.action = "subscribe to"; e.target = topic; throw e; });
    }
    take(id) {
      const p = this.pending.get(id);
      if (p) this.pending.delete(id);
      return p;
    }
    onMessage(ev) {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_e) { msg = null; }
      if (!Array.isArray(msg) || typeof msg[0] !== "number") {
        this.end("protocol", "", "the router sent something that is not a WAMP message");
        return;
      }
      const dict = (v) => (v && typeof v === "object" && !Array.isArray(v) ? v : {});
      switch (msg[0]) {
        case M.WELCOME:
          if (this.sessionId === null && typeof msg[1] === "number") {
            this.sessionId = msg[1];
            this.events.welcome(this, msg[1], dict(msg[2]));
          }
          break;
        case M.ABORT:
          this.end("abort", String(msg[2]), dict(msg[1]).message);
          break;
        case M.GOODBYE:
          if (!this.closing) this.send([M.GOODBYE, {}, "wamp.close.goodbye_and_out"]);
          this.end(this.closing ? "closed" : "goodbye", String(msg[2]), dict(msg[1]).message);
          break;
        case M.ERROR: {
          const p = this.take(msg[2]);
          if (p) p.reject(new WampError(String(msg[4]), errorText(msg[5], msg[6])));
          break;
        }
        case M.SUBSCRIBED: {
          const p = this.take(msg[1]);
          if (p) {
            this.handlers.set(msg[2], p.handler);
            p.resolve(msg[2]);
          }
          break;
        }
        case M.RESULT: {
          const p = this.take(msg[1]);
          if (p) p.resolve({ args: Array.isArray(msg[3]) ? msg[3] : [], kwargs: dict(msg[4]) });
          break;
        }
        case M.EVENT: {
          const f = this.handlers.get(msg[1]);
          if (f) {
            try { f(Array.isArray(msg[4]) ? msg[4] : [], dict(msg[5])); } catch (e) { console.error(e); }
          }
          break;
        }
        default:
          break;
      }
    }
    onClose(ev) {
      for (const p of this.pending.values()) p.reject(new Error("connection closed"));
      this.pending.clear();
      this.events.closed(this, ev);
    }
    /** Leaves politely (GOODBYE), then closes; no more events reach the page. */
    close(reason) {
      this.events = IGNORE;
      const joined = this.sessionId !== null && this.ws.readyState === WebSocket.OPEN;
      this.closing = true;
      if (joined) {
        this.send([M.GOODBYE, {}, reason]);
        setTimeout(() => { try { this.ws.close(1000); } catch (_e) { /* closed */ } }, 1000);
      } else {
        try { this.ws.close(1000); } catch (_e) { /* closed */ }
      }
    }
  }

  // ---- page state -------------------------------------------------------------------------

  const LEFT_MEMORY = 5000;
  let conn = null;
  let realm = null;
  let retryTimer = 0;
  let retryDelay = 2000;
  let refreshTimer = 0;
  let model = freshModel();

  function freshModel() {
    return {
      sessions: new Map(), // id -> details (wamp.session.get / on_join)
      listed: false, // wamp.session.list answered at least once
      stats: new Map(), // id -> latest on_stats figures
      left: new Set(), // ids that left (late answers for them are ignored)
      subs: null,
      regs: null,
      errors: new Map(), // "area.source" -> problem()
      authrole: null,
      self: null,
      updated: null,
    };
  }
  /** What went wrong with a call or subscription, for the section's error line. */
  function problem(e) {
    return { uri: e.uri || "error", action: e.action || "use", target: e.target || "",
      detail: e.message };
  }
  function setError(key, e) {
    if (e) model.errors.set(key, problem(e));
    else model.errors.delete(key);
  }
  function hasError(prefix) {
    for (const k of model.errors.keys()) if (k.indexOf(prefix) === 0) return true;
    return false;
  }
  function forget(id) {
    model.sessions.delete(id);
    model.stats.delete(id);
    model.left.add(id);
    if (model.left.size > LEFT_MEMORY) model.left.delete(model.left.values().next().value);
  }

  // ---- rendering --------------------------------------------------------------------------

  let renderQueued = false;
  function render() {
    if (renderQueued) return;
    renderQueued = true;
    setTimeout(() => { renderQueued = false; draw(); }, 0);
  }
  /** One line per error URI: "wamp.error.x: cannot call a, b; cannot subscribe to c". */
  function sectionError(id, area) {
    const byUri = new Map();
    const details = [];
    for (const [k, x] of model.errors) {
      if (k.indexOf(area + ".") !== 0) continue;
      if (details.indexOf(x.detail) < 0) details.push(x.detail);
      if (!byUri.has(x.uri)) byUri.set(x.uri, new Map());
      const actions = byUri.get(x.uri);
      if (!actions.has(x.action)) actions.set(x.action, []);
      const targets = actions.get(x.action);
      if (targets.indexOf(x.target) < 0) targets.push(x.target);
    }
    const lines = [];
    for (const [uri, actions] of byUri) {
      const parts = [];
      for (const [action, targets] of actions) parts.push("cannot " + action + " " + targets.join(", "));
      lines.push(uri + ": " + parts.join("; "));
    }
    const p = $(id);
    p.textContent = lines.join(" \u00b7 ");
    p.title = details.join("\n");
    p.hidden = lines.length === 0;
  }
  function emptyRow(cols, message) {
    return h("tr", { cls: "empty" }, [h("td", { colspan: cols }, [message])]);
  }
  function td(value, cls, field) {
    return h("td", { cls: cls, data: field ? { field: field } : null }, [value]);
  }
  function statsCells(st) {
    if (!st) {
      return [td("\u2014", "num first-stat", "messages"), td("\u2014", "num", "bytes"),
        td("\u2014", "num", "rated_messages"), td("\u2014", "num", "cycle"),
        td("no report yet", "muted", "reported")];
    }
    // timestamp (ns since the epoch) exceeds 2^53 and arrives rounded: only shown as a date.
    const startMs = Number(st.timestamp) / 1e6;
    const durationMs = typeof st.duration === "number" ? st.duration / 1e6 : 0;
    const reported = h("td", {
      cls: "mono",
      data: { field: "reported" },
      title: "reported " + isoOf(startMs + durationMs) + "; window of " +
        (durationMs / 1000).toFixed(3) + " s" +
        (st.last ? " (final report)" : ""),
    }, [fmtWhen(startMs + durationMs)]);
    return [td(num(st.messages), "num first-stat", "messages"), td(num(st.bytes), "num", "bytes"),
      td(num(st.rated_messages), "num", "rated_messages"), td(num(st.cycle), "num", "cycle"),
      reported];
  }
  function drawSessions() {
    const rows = [];
    for (const [id, d] of model.sessions) {
      const transport = d.transport && typeof d.transport === "object" ? d.transport : {};
      const idCell = h("td", { cls: "mono", data: { field: "session" } }, [String(id)]);
      if (id === model.self) idCell.append(h("span", { cls: "badge" }, ["this page"]));
      rows.push(h("tr", { data: { session: id } }, [
        idCell,
        td(text(d.authid), "mono", "authid"),
        td(text(d.authrole), "", "authrole"),
        td(text(d.serializer), "", "serializer"),
        td(text(transport.peer), "mono muted", "peer"),
      ].concat(statsCells(model.stats.get(id)))));
    }
    if (rows.length === 0) {
      const joined = conn && conn.sessionId !== null;
      rows.push(emptyRow(10, !joined ? "Not connected." : model.listed ? "No sessions." :
        hasError("sessions.list") ? "Unavailable." : "Loading\u2026"));
    }
    $("sessions-body").replaceChildren(...rows);
    $("sessions-count").textContent = model.sessions.size ? "(" + model.sessions.size + ")" : "";
    sectionError("sessions-error", "sessions");
  }
  function createdCell(iso) {
    const ms = typeof iso === "string" ? Date.parse(iso) : NaN;
    return h("td", { cls: "mono", title: typeof iso === "string" ? iso : null }, [
      isNaN(ms) ? text(iso) : fmtTime(ms, true),
    ]);
  }
  function drawObjects(kind) {
    const items = model[kind];
    const cols = kind === "subs" ? 5 : 6;
    const rows = [];
    for (const x of items || []) {
      const cells = [
        td(text(x.uri), "mono", "uri"),
        h("td", {}, [h("span", { cls: "tag" }, [text(x.match)])]),
      ];
      if (kind === "regs") cells.push(td(text(x.invoke), "", "invoke"));
      cells.push(td(num(x.count), "num", "count"), createdCell(x.created),
        td(String(x.id), "mono muted", "id"));
      rows.push(h("tr", { data: { id: x.id } }, cells));
    }
    if (rows.length === 0) {
      const none = kind === "subs" ? "No subscriptions." : "No registrations.";
      const joined = conn && conn.sessionId !== null;
      rows.push(emptyRow(cols, items ? none : !joined ? "Not connected." :
        hasError(kind + ".list") ? "Unavailable." : "Loading\u2026"));
    }
    $(kind + "-body").replaceChildren(...rows);
    $(kind + "-count").textContent = items && items.length ? "(" + items.length + ")" : "";
    sectionError(kind + "-error", kind);
  }
  function draw() {
    drawSessions();
    drawObjects("subs");
    drawObjects("regs");
    const parts = [];
    if (WAMP_PATH !== null) parts.push("WAMP endpoint /" + WAMP_PATH + " (JSON)");
    if (model.self !== null) parts.push("this page is session " + model.self);
    if (model.updated !== null) parts.push("last update " + fmtTime(model.updated, false));
    parts.push("refreshed live and every " + REFRESH_MS / 1000 + " s");
    $("footer").textContent = parts.join(" \u00b7 ");
    if (conn && conn.sessionId !== null) {
      let refused = false;
      for (const x of model.errors.values()) if (x.uri === "wamp.error.not_authorized") refused = true;
      notice(refused
        ? "This page's session (role \u201c" + text(model.authrole) + "\u201d) may not use parts of " +
          "the wamp.* meta API, so some figures are missing. Grant the role call and subscribe " +
          "on the URI prefix \u201cwamp.\u201d to see everything."
        : "", "warn", false);
    }
  }
  function setState(label, kind) {
    const s = $("state");
    s.textContent = label;
    s.className = "pill" + (kind ? " " + kind : "");
  }
  function notice(message, kind, retry) {
    const n = $("notice");
    $("notice-text").textContent = message || "";
    n.className = "notice" + (kind ? " " + kind : "");
    n.hidden = !message;
    $("retry").hidden = !retry;
  }

  // ---- data loading -----------------------------------------------------------------------

  function refresher(task) {
    let running = false;
    let again = false;
    let timer = 0;
    const run = async () => {
      if (running) { again = true; return; }
      running = true;
      try {
        do {
          again = false;
          const c = conn;
          if (!c || c.sessionId === null) break;
          await task(c);
        } while (again);
      } catch (e) {
        console.error(e);
      } finally {
        running = false;
      }
    };
    return { run: run, soon() { clearTimeout(timer); timer = setTimeout(run, 100); } };
  }

  async function syncSessions(c) {
    const known = new Set(model.sessions.keys());
    let ids;
    try {
      ids = (await c.call("wamp.session.list")).args[0];
    } catch (e) {
      if (c === conn) { setError("sessions.list", e); render(); }
      return;
    }
    if (c !== conn) return;
    setError("sessions.list", null);
    model.listed = true;
    if (!Array.isArray(ids)) ids = [];
    const listed = new Set(ids);
    // Sessions known before the list was asked for and missing from it have left.
    for (const id of known) if (!listed.has(id)) forget(id);
    const missing = ids.filter((id) => typeof id === "number" && !model.sessions.has(id));
    let failure = null;
    await Promise.all(missing.map((id) =>
      c.call("wamp.session.get", [id]).then((r) => {
        const d = r.args[0];
        if (c === conn && !model.left.has(id) && d && typeof d === "object") model.sessions.set(id, d);
      }, (e) => {
        if (e.uri !== "wamp.error.no_such_session") failure = e;
      })
    ));
    if (c !== conn) return;
    setError("sessions.get", failure);
    model.updated = Date.now();
    render();
  }

  function objectLoader(kind) {
    const prefix = kind === "subs" ? "wamp.subscription." : "wamp.registration.";
    const counter = prefix + (kind === "subs" ? "count_subscribers" : "count_callees");
    const gone = kind === "subs" ? "wamp.error.no_such_subscription" : "wamp.error.no_such_registration";
    return async (c) => {
      try {
        const groups = (await c.call(prefix + "list")).args[0] || {};
        const ids = [].concat(groups.exact || [], groups.prefix || [], groups.wildcard || []);
        const rows = await Promise.all(ids.map((id) =>
          Promise.all([c.call(prefix + "get", [id]), c.call(counter, [id])]).then(([g, n]) => {
            const x = g.args[0] || {};
            return { id: id, uri: x.uri, match: x.match, invoke: x.invoke, created: x.created,
              count: n.args[0] };
          }, (e) => {
            if (e.uri === gone) return null;
            throw e;
          })
        ));
        if (c !== conn) return;
        model[kind] = rows.filter((x) => x !== null).sort((a, b) =>
          String(a.uri) < String(b.uri) ? -1 : String(a.uri) > String(b.uri) ? 1 : a.id - b.id
        );
        setError(kind + ".list", null);
      } catch (e) {
        if (c !== conn) return;
        setError(kind + ".list", e);
      }
      model.updated = Date.now();
      render();
    };
  }

  const sessionsRefresher = refresher(syncSessions);
  const subsRefresher = refresher(objectLoader("subs"));
  const regsRefresher = refresher(objectLoader("regs"));
  function refreshAll() {
    sessionsRefresher.run();
    subsRefresher.run();
    regsRefresher.run();
  }

  async function start(c) {
    const live = (f) => (args) => { if (c === conn) f(args); };
    const sub = (topic, area, f) =>
      c.subscribe(topic, live(f)).then(() => setError(area + ".sub:" + topic, null), (e) => {
        if (c === conn) setError(area + ".sub:" + topic, e);
      });
    const onJoin = (args) => {
      const d = args[0];
      if (!d || typeof d !== "object" || typeof d.session !== "number") return;
      if (model.left.has(d.session)) return;
      model.sessions.set(d.session, d);
      model.updated = Date.now();
      render();
    };
    const onLeave = (args) => {
      if (typeof args[0] !== "number") return;
      forget(args[0]);
      model.updated = Date.now();
      render();
    };
    const onStats = (args) => {
      const s = args[0];
      const st = args[1];
      if (!s || typeof s !== "object" || typeof s.session !== "number") return;
      if (!st || typeof st !== "object" || model.left.has(s.session)) return;
      model.stats.set(s.session, st);
      model.updated = Date.now();
      render();
    };
    const subs = () => subsRefresher.soon();
    const regs = () => regsRefresher.soon();
    await Promise.all([
      sub("wamp.session.on_join", "sessions", onJoin),
      sub("wamp.session.on_leave", "sessions", onLeave),
      sub("wamp.session.on_stats", "sessions", onStats),
      sub("wamp.subscription.on_create", "subs", subs),
      sub("wamp.subscription.on_delete", "subs", subs),
      sub("wamp.subscription.on_subscribe", "subs", subs),
      sub("wamp.subscription.on_unsubscribe", "subs", subs),
      sub("wamp.registration.on_create", "regs", regs),
      sub("wamp.registration.on_delete", "regs", regs),
      sub("wamp.registration.on_register", "regs", regs),
      sub("wamp.registration.on_unregister", "regs", regs),
    ]);
    if (c !== conn) return;
    render();
    refreshAll();
    clearInterval(refreshTimer);
    refreshTimer = setInterval(refreshAll, REFRESH_MS);
  }

  // ---- connection lifecycle ---------------------------------------------------------------

  const events = {
    welcome(c, id, details) {
      if (c !== conn) return;
      retryDelay = 2000;
      model.self = id;
      model.authrole = details.authrole;
      setState("connected to " + c.realm, "ok");
      notice("");
      $("main").classList.remove("stale");
      render();
      start(c);
    },
    closed(c, ev) {
      if (c !== conn) return;
      conn = null;
      clearInterval(refreshTimer);
      $("main").classList.add("stale");
      render();
      const end = c.ended;
      const detail = (e) => e.reason + (e.message ? " \u2014 " + e.message : "");
      if (end && end.kind === "abort") {
        // No automatic retry: repeated refusals count as authentication failures.
        setState("refused", "bad");
        notice("The router refused the page's session on realm \u201c" + c.realm + "\u201d: " +
          detail(end) + ". The page joins anonymously (roles subscriber and caller); it needs a " +
          "transport that allows anonymous access and permission to call and subscribe to the " +
          "wamp.* meta API.", "error", true);
        return;
      }
      const seconds = Math.round(retryDelay / 1000);
      let why;
      if (end && end.kind === "goodbye") why = "The router closed the session (" + detail(end) + ").";
      else if (end && end.kind === "protocol") why = "Protocol problem: " + end.message + ".";
      else if (!c.opened) why = "Cannot connect to " + c.url + " (WebSocket close code " + ev.code + ").";
      else if (c.sessionId === null) why = "The connection closed before the session opened (code " + ev.code + ").";
      else why = "The connection to the router was lost (code " + ev.code + ").";
      setState("disconnected", "warn");
      notice(why + " Reconnecting in " + seconds + " s\u2026", "warn", true);
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, MAX_RETRY_MS);
    },
  };

  function connect() {
    clearTimeout(retryTimer);
    clearInterval(refreshTimer);
    if (conn) {
      conn.close("wamp.close.close_realm");
      conn = null;
    }
    model = freshModel();
    $("main").classList.remove("stale");
    if (WAMP_PATH === null) {
      setState("unavailable", "bad");
      notice("This transport has no WebSocket path that speaks JSON (wamp.2.json), so the status " +
        "page cannot connect. Add \"json\" to the serializers of one of its paths.", "error", false);
      render();
      return;
    }
    if (realm === null) {
      setState("no realm", "bad");
      notice("The router has no realms.", "error", false);
      render();
      return;
    }
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/" + WAMP_PATH;
    setState("connecting to " + realm + "\u2026", "warn");
    notice("");
    render();
    try {
      conn = new Connection(url, realm, events);
    } catch (e) {
      setState("unavailable", "bad");
      notice("Cannot open a WebSocket to " + url + ": " + e.message, "error", true);
    }
  }

  // ---- start ------------------------------------------------------------------------------

  $("version").textContent = text(INFO.version);
  $("realms").textContent = REALMS.length ? REALMS.join(", ") : "none";
  const select = $("realm");
  for (const r of REALMS) select.append(h("option", {}, [r]));
  select.disabled = REALMS.length < 2;
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("realm");
  realm = REALMS.indexOf(fromHash) >= 0 ? fromHash : REALMS.length ? REALMS[0] : null;
  if (realm !== null) select.value = realm;
  select.addEventListener("change", () => {
    realm = select.value;
    history.replaceState(null, "", "#realm=" + encodeURIComponent(realm));
    retryDelay = 2000;
    connect();
  });
  $("retry").addEventListener("click", () => { retryDelay = 2000; connect(); });
  addEventListener("pagehide", () => { if (conn) conn.close("wamp.close.close_realm"); });
  connect();
})();
`;
