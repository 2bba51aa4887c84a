/**
 * The live status page served on `/status` of web transports: one self-contained HTML page
 * (no external assets) that connects back to the router over WAMP (JSON) and shows realms,
 * sessions, their latest statistics, subscriptions and registrations, live; in a cluster, the
 * nodes and which node each session is on.
 *
 * This module is the page's HTML shell (markup, style sheet, the embedded info) and its
 * headers. The script is the browser client in `src/status/client/` (TypeScript), bundled at
 * build time by `deno task status:build` into `src/status/client_bundle.generated.ts` and
 * inlined here. The Content-Security-Policy allows exactly that script and this style sheet
 * (by their SHA-256) and WebSocket back to the same host. Everything the page shows is
 * inserted as text (`textContent`), never as markup.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { STATUS_CLIENT_JS } from "./client_bundle.generated.ts";
import { INFO_ELEMENT_ID, type StatusPageInfo } from "./info.ts";

export type { StatusPageInfo };

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
<script type="application/json" id="${INFO_ELEMENT_ID}">${data}</script>
<script>${STATUS_CLIENT_JS}</script>
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
    <span class="muted" id="nodes-line" hidden>cluster nodes: <span id="nodes"></span></span>
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
        <tr><th rowspan="2">Session</th><th rowspan="2">Authid</th><th rowspan="2">Role</th><th rowspan="2" id="node-col" hidden title="The cluster node the session is joined on">Node</th><th rowspan="2">Serializer</th><th rowspan="2">Peer</th><th colspan="5" class="group" title="Figures of the latest window reported by wamp.session.on_stats (per-window counts, both directions)">Latest statistics window</th></tr>
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

/** A CSP source allowing exactly the inline element whose text is `text`. */
function hashSource(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

/** The headers of the page: no caching, and a CSP for exactly its own script and style. */
export const STATUS_PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "content-security-policy": `default-src 'none'; script-src ${hashSource(STATUS_CLIENT_JS)}; ` +
    `style-src ${hashSource(STYLE)}; connect-src 'self' ws: wss:; img-src data:`,
};
