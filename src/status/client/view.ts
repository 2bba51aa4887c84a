/**
 * Drawing the status page from its model: the sessions, subscriptions and registrations
 * tables with their counts and error lines, the footer, the connection state pill and the
 * notice bar.
 *
 * @module
 */

import { byId, h } from "./dom.ts";
import { fmtTime, fmtWhen, isoOf, num, text } from "./format.ts";
import { dict } from "./messages.ts";
import type { Dict } from "./messages.ts";
import type { ObjectKind, PageModel } from "./model.ts";

/** What the drawing needs besides the model. */
export interface DrawContext {
  /** The page's session is open. */
  readonly joined: boolean;
  /** The WebSocket path the page connects to (null: none speaks JSON). */
  readonly wampPath: string | null;
  /** How often everything is reloaded. */
  readonly refreshMs: number;
}

/** One line per error URI: "wamp.error.x: cannot call a, b; cannot subscribe to c". */
function sectionError(model: PageModel, id: string, area: string): void {
  const byUri = new Map<string, Map<string, string[]>>();
  const details: (string | undefined)[] = [];
  for (const [k, x] of model.errors) {
    if (!k.startsWith(area + ".")) continue;
    if (!details.includes(x.detail)) details.push(x.detail);
    let actions = byUri.get(x.uri);
    if (!actions) byUri.set(x.uri, actions = new Map());
    let targets = actions.get(x.action);
    if (!targets) actions.set(x.action, targets = []);
    if (!targets.includes(x.target)) targets.push(x.target);
  }
  const lines: string[] = [];
  for (const [uri, actions] of byUri) {
    const parts: string[] = [];
    for (const [action, targets] of actions) {
      parts.push("cannot " + action + " " + targets.join(", "));
    }
    lines.push(uri + ": " + parts.join("; "));
  }
  const p = byId(id);
  p.textContent = lines.join(" \u00b7 ");
  p.title = details.join("\n");
  p.hidden = lines.length === 0;
}

function emptyRow(cols: number, message: string): HTMLTableRowElement {
  return h("tr", { cls: "empty" }, [h("td", { colspan: cols }, [message])]);
}

function td(value: string, cls: string, field?: string): HTMLTableCellElement {
  return h("td", { cls, data: field ? { field } : null }, [value]);
}

function statsCells(st: Dict | undefined): HTMLTableCellElement[] {
  if (!st) {
    return [
      td("\u2014", "num first-stat", "messages"),
      td("\u2014", "num", "bytes"),
      td("\u2014", "num", "rated_messages"),
      td("\u2014", "num", "cycle"),
      td("no report yet", "muted", "reported"),
    ];
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
  return [
    td(num(st.messages), "num first-stat", "messages"),
    td(num(st.bytes), "num", "bytes"),
    td(num(st.rated_messages), "num", "rated_messages"),
    td(num(st.cycle), "num", "cycle"),
    reported,
  ];
}

/** Whether the page shows a Node column: a cluster's nodes are known, or sessions name theirs. */
function hasNodes(model: PageModel): boolean {
  if (model.nodes !== null) return true;
  for (const d of model.sessions.values()) if (typeof d.node === "string") return true;
  return false;
}

/** The cluster's nodes in the header ("n1 (this one), n2"), hidden on a single router. */
function drawNodes(model: PageModel): void {
  const nodes = model.nodes;
  byId("nodes-line").hidden = nodes === null;
  byId("node-col").hidden = !hasNodes(model);
  byId("nodes").textContent = (nodes ?? []).map((n) => text(n.node) + (n.self ? " (this one)" : ""))
    .join(", ");
}

function drawSessions(model: PageModel, joined: boolean): void {
  const rows: HTMLTableRowElement[] = [];
  const cluster = hasNodes(model);
  for (const [id, d] of model.sessions) {
    const transport = dict(d.transport);
    const idCell = h("td", { cls: "mono", data: { field: "session" } }, [String(id)]);
    if (id === model.self) idCell.append(h("span", { cls: "badge" }, ["this page"]));
    rows.push(h("tr", { data: { session: id } }, [
      idCell,
      td(text(d.authid), "mono", "authid"),
      td(text(d.authrole), "", "authrole"),
      ...(cluster ? [td(text(d.node), "", "node")] : []),
      td(text(d.serializer), "", "serializer"),
      td(text(transport.peer), "mono muted", "peer"),
      ...statsCells(model.stats.get(id)),
    ]));
  }
  if (rows.length === 0) {
    rows.push(emptyRow(
      cluster ? 11 : 10,
      !joined
        ? "Not connected."
        : model.listed
        ? "No sessions."
        : model.hasError("sessions.list")
        ? "Unavailable."
        : "Loading\u2026",
    ));
  }
  byId("sessions-body").replaceChildren(...rows);
  byId("sessions-count").textContent = model.sessions.size ? "(" + model.sessions.size + ")" : "";
  sectionError(model, "sessions-error", "sessions");
}

function createdCell(iso: unknown): HTMLTableCellElement {
  const ms = typeof iso === "string" ? Date.parse(iso) : NaN;
  return h("td", { cls: "mono", title: typeof iso === "string" ? iso : null }, [
    isNaN(ms) ? text(iso) : fmtTime(ms, true),
  ]);
}

function drawObjects(model: PageModel, kind: ObjectKind, joined: boolean): void {
  const items = model[kind];
  const cols = kind === "subs" ? 5 : 6;
  const rows: HTMLTableRowElement[] = [];
  for (const x of items ?? []) {
    const cells = [
      td(text(x.uri), "mono", "uri"),
      h("td", {}, [h("span", { cls: "tag" }, [text(x.match)])]),
    ];
    if (kind === "regs") cells.push(td(text(x.invoke), "", "invoke"));
    cells.push(
      td(num(x.count), "num", "count"),
      createdCell(x.created),
      td(String(x.id), "mono muted", "id"),
    );
    rows.push(h("tr", { data: { id: x.id } }, cells));
  }
  if (rows.length === 0) {
    const none = kind === "subs" ? "No subscriptions." : "No registrations.";
    rows.push(emptyRow(
      cols,
      items
        ? none
        : !joined
        ? "Not connected."
        : model.hasError(kind + ".list")
        ? "Unavailable."
        : "Loading\u2026",
    ));
  }
  byId(kind + "-body").replaceChildren(...rows);
  byId(kind + "-count").textContent = items && items.length ? "(" + items.length + ")" : "";
  sectionError(model, kind + "-error", kind);
}

/** Draws everything from `model`. */
export function draw(model: PageModel, ctx: DrawContext): void {
  drawNodes(model);
  drawSessions(model, ctx.joined);
  drawObjects(model, "subs", ctx.joined);
  drawObjects(model, "regs", ctx.joined);
  const parts: string[] = [];
  if (ctx.wampPath !== null) parts.push("WAMP endpoint /" + ctx.wampPath + " (JSON)");
  if (model.self !== null) parts.push("this page is session " + model.self);
  if (model.updated !== null) parts.push("last update " + fmtTime(model.updated, false));
  parts.push("refreshed live and every " + ctx.refreshMs / 1000 + " s");
  byId("footer").textContent = parts.join(" \u00b7 ");
  if (ctx.joined) {
    let refused = false;
    for (const x of model.errors.values()) {
      if (x.uri === "wamp.error.not_authorized") refused = true;
    }
    notice(
      refused
        ? "This page's session (role \u201c" + text(model.authrole) + "\u201d) may not use " +
          "parts of the wamp.* meta API, so some figures are missing. Grant the role call and " +
          "subscribe on the URI prefix \u201cwamp.\u201d to see everything."
        : "",
      "warn",
      false,
    );
  }
}

/** The state pill: `label`, coloured by `kind` ("ok", "warn", "bad"). */
export function setState(label: string, kind?: string): void {
  const s = byId("state");
  s.textContent = label;
  s.className = "pill" + (kind ? " " + kind : "");
}

/** The notice bar (hidden when `message` is empty), with the Retry button if `retry`. */
export function notice(message: string, kind?: string, retry?: boolean): void {
  const n = byId("notice");
  byId("notice-text").textContent = message || "";
  n.className = "notice" + (kind ? " " + kind : "");
  n.hidden = !message;
  byId("retry").hidden = !retry;
}
