/**
 * The status page's browser client, started from the page itself: reads what the router
 * embedded (realms, the JSON WebSocket path, the version), fills in the header and the realm
 * selector (first realm unless the address names another, `#realm=...`), and connects.
 *
 * This is the entry point of the bundle `deno task status:build` makes; it runs in the
 * browser only.
 *
 * @module
 */

import { INFO_ELEMENT_ID } from "../info.ts";
import { StatusApp } from "./app.ts";
import { byId, h } from "./dom.ts";
import { text } from "./format.ts";
import { dict } from "./messages.ts";

function readInfo(): Record<string, unknown> {
  try {
    return dict(JSON.parse(byId(INFO_ELEMENT_ID).textContent || "{}"));
  } catch {
    return {};
  }
}

const info = readInfo();
const realms = Array.isArray(info.realms)
  ? info.realms.filter((r): r is string => typeof r === "string")
  : [];
const app = new StatusApp({ wampPath: typeof info.wampPath === "string" ? info.wampPath : null });

byId("version").textContent = text(info.version);
byId("realms").textContent = realms.length ? realms.join(", ") : "none";
const select = byId("realm", HTMLSelectElement);
for (const r of realms) select.append(h("option", {}, [r]));
select.disabled = realms.length < 2;
const fromHash = new URLSearchParams(location.hash.slice(1)).get("realm");
const first = fromHash !== null && realms.includes(fromHash)
  ? fromHash
  : realms.length
  ? realms[0]!
  : null;
if (first !== null) select.value = first;
select.addEventListener("change", () => {
  history.replaceState(null, "", "#realm=" + encodeURIComponent(select.value));
  app.connectTo(select.value);
});
byId("retry").addEventListener("click", () => app.connectTo(app.realm));
addEventListener("pagehide", () => app.leave());
app.connectTo(first);
