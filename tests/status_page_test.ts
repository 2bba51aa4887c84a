/**
 * The status page: how it is served (headers, no external assets, config switches) and, end
 * to end in headless Chromium over the DevTools protocol, that it shows live sessions, their
 * statistics, subscriptions and registrations of a real router, and clear messages when it
 * cannot connect.
 *
 * Chromium comes from Debian (`apt-get install -y chromium`); set `CHROMIUM` to use another
 * binary. Set `STATUS_PAGE_SCREENSHOT=<file.png>` to keep a copy of the screenshot.
 */

import assert from "node:assert/strict";
import { statusPage } from "../src/status/page.ts";
import { Browser, type Cdp, until } from "./_chromium.ts";
import { RawClient, startRouter, testConfig } from "./_helpers.ts";

const STATS = {
  stats: {
    rated_message_size: 512,
    trigger_after_rated_messages: 1,
    trigger_after_duration: 0,
    trigger_on_join: true,
    trigger_on_leave: true,
  },
};

/** `testConfig` with extra keys on the web transport (and optionally a different realm). */
function webConfig(transport: Record<string, unknown>, realm: Record<string, unknown> = {}) {
  const config = testConfig(realm);
  Object.assign(config.workers[0]!.transports[0]!, transport);
  return config;
}

async function get(port: number, path: string): Promise<{ res: Response; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/${path}`);
  return { res, body: await res.text() };
}

/** The `info` the page embeds (its `<script type="application/json">` block). */
function embeddedInfo(html: string): unknown {
  const m = html.match(/<script type="application\/json" id="sb-info">([^<]*)<\/script>/);
  assert.ok(m, "the page embeds its info as JSON");
  return JSON.parse(m[1]!);
}

// ---- serving -----------------------------------------------------------------------------

Deno.test("status page: GET /status is one self-contained HTML page with a strict CSP", async () => {
  await using r = await startRouter();
  const { res, body } = await get(r.port, "status");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html\b/);
  const csp = res.headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /connect-src 'self' ws: wss:/);
  assert.match(body, /^<!doctype html>/i);
  // no external assets of any kind
  assert.doesNotMatch(body, /https?:\/\//i);
  assert.doesNotMatch(body, /<script\b[^>]*\bsrc\s*=/i);
  assert.doesNotMatch(body, /<link\b/i);
  assert.doesNotMatch(body, /<img\b/i);
  assert.doesNotMatch(body, /<iframe\b|@import|url\(/i);
  assert.deepEqual(embeddedInfo(body), { realms: ["realm1"], wampPath: "ws", version: "0.1.0" });
});

Deno.test("status page: `status: false` turns it off, `status.path` moves it", async () => {
  {
    await using r = await startRouter(webConfig({ status: false }));
    const { res } = await get(r.port, "status");
    assert.equal(res.status, 404);
  }
  {
    await using r = await startRouter(webConfig({ status: { path: "dash" } }));
    const moved = await get(r.port, "dash");
    assert.equal(moved.res.status, 200);
    assert.match(moved.res.headers.get("content-type") ?? "", /^text\/html\b/);
    assert.match(moved.res.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    assert.match(moved.body, /<title>Switchboard status<\/title>/);
    const old = await get(r.port, "status");
    assert.equal(old.res.status, 404);
  }
});

Deno.test("status page: without a JSON WebSocket path the page is told wampPath null", async () => {
  const config = testConfig();
  config.workers[0]!.transports[0]!.paths.ws.serializers = ["msgpack", "cbor"];
  await using r = await startRouter(config);
  const { res, body } = await get(r.port, "status");
  assert.equal(res.status, 200);
  assert.deepEqual(embeddedInfo(body), { realms: ["realm1"], wampPath: null, version: "0.1.0" });
});

Deno.test("status page: embedded info cannot break out of its script block", () => {
  const html = statusPage({
    realms: ["</script><img src=x onerror=alert(1)>", "a&b\u2028"],
    wampPath: "ws",
    version: "<!--",
  });
  assert.doesNotMatch(html, /<\/script><img/);
  assert.doesNotMatch(html, /<img\b/);
  assert.deepEqual(embeddedInfo(html), {
    realms: ["</script><img src=x onerror=alert(1)>", "a&b\u2028"],
    wampPath: "ws",
    version: "<!--",
  });
  // the inline script is valid JavaScript
  const script = html.match(/<script>([\s\S]*)<\/script>/);
  assert.ok(script);
  new Function(script[1]!);
});

// ---- headless Chromium over the DevTools protocol (tests/_chromium.ts) ---------------------

interface PageView {
  text: string;
  state: string;
  notice: string;
  row: Record<string, string> | null;
  subs: string[];
  regs: string[];
  /** The error line of each section ("" when there is none). */
  errors: { sessions: string; subs: string; regs: string };
}

/** What the page shows, read through the DOM (`row` is the given session's row by field). */
function view(cdp: Cdp, session = 0): Promise<PageView> {
  return cdp.evaluate<PageView>(`(() => {
    const tr = document.querySelector('tr[data-session="${session}"]');
    let row = null;
    if (tr) {
      row = {};
      for (const td of tr.querySelectorAll("td[data-field]")) row[td.dataset.field] = td.textContent;
    }
    const uris = (id) => [...document.querySelectorAll("#" + id + " td[data-field=uri]")]
      .map((e) => e.textContent);
    return {
      text: document.body.innerText,
      state: document.getElementById("state").textContent,
      notice: document.getElementById("notice").hidden ? "" : document.getElementById("notice-text").textContent,
      row,
      subs: uris("subs-body"),
      regs: uris("regs-body"),
      errors: Object.fromEntries(["sessions", "subs", "regs"].map((k) => {
        const e = document.getElementById(k + "-error");
        return [k, e.hidden ? "" : e.textContent];
      })),
    };
  })()`);
}

/** JavaScript exceptions and console/security errors the page produced. */
function pageProblems(cdp: Cdp): string[] {
  const out: string[] = [];
  for (const e of cdp.events) {
    if (e.method === "Runtime.exceptionThrown") out.push(JSON.stringify(e.params));
    if (e.method === "Log.entryAdded") {
      const entry = e.params.entry as { level: string; source: string; text: string; url?: string };
      // A refused reconnect after the router closed is expected; everything else is not.
      if (
        entry.level === "error" && !/ERR_CONNECTION_REFUSED|favicon/.test(entry.text + entry.url)
      ) {
        out.push(`${entry.source}: ${entry.text}`);
      }
    }
  }
  return out;
}

function isPng(bytes: Uint8Array): { width: number; height: number } | null {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || sig.some((b, i) => bytes[i] !== b)) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

Deno.test("status page: live sessions, stats, subscriptions and registrations in headless Chromium", async () => {
  await using r = await startRouter(testConfig(STATS));
  await using browser = await Browser.launch();
  const cdp = browser.page!;

  // A monitor that sees the same on_stats events as the page, to compare figures with.
  await using monitor = (await RawClient.join(r.url, "json")).client;
  monitor.send([32, 1, {}, "wamp.session.on_stats"]);
  const monitorSub = (await monitor.nextOf(33))[2];
  const reported = new Map<number, Record<string, unknown>>(); // cycle -> stats of `session`

  const joined = await RawClient.join(r.url, "msgpack");
  const client = joined.client;
  const session = joined.session;
  try {
    client.send([32, 1, {}, "com.example.topic"]);
    assert.equal((await client.nextOf(33))[0], 33);
    client.send([64, 2, {}, "com.example.proc"]);
    assert.equal((await client.nextOf(65))[0], 65);

    await cdp.navigate(`http://127.0.0.1:${r.port}/status`);
    let request = 10;
    let last: PageView | null = null;
    const drainMonitor = () => {
      for (const m of monitor.received.splice(0)) {
        if (m[0] !== 36 || m[1] !== monitorSub) continue;
        const [who, stats] = m[4] as [{ session: number }, Record<string, unknown>];
        if (who.session === session) reported.set(Number(stats.cycle), stats);
      }
    };
    const digits = (s: string | undefined) => (s ?? "").replace(/,/g, "");
    const shown = await until(
      "the page to show the session, its stats, the topic and the procedure",
      async () => {
        // Traffic from the client makes the router publish its on_stats (one rated message each).
        if (!last?.row || last.row.cycle === "\u2014") {
          client.send([16, ++request, {}, "com.example.ping", []]);
        }
        last = await view(cdp, session);
        drainMonitor();
        const row = last.row;
        if (!row) return null;
        const stats = reported.get(Number(row.cycle));
        const statsMatch = stats !== undefined &&
          digits(row.messages) === String(stats.messages) &&
          digits(row.bytes) === String(stats.bytes) &&
          digits(row.rated_messages) === String(stats.rated_messages) &&
          /^(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d$/.test(row.reported ?? "");
        const ok = last.text.includes(String(session)) && row.authrole === "anonymous" &&
          row.serializer === "msgpack" && /^tcp4:127\.0\.0\.1:\d+$/.test(row.peer ?? "") &&
          statsMatch && last.subs.includes("com.example.topic") &&
          last.regs.includes("com.example.proc");
        return ok ? last : null;
      },
      20_000,
      () => JSON.stringify({ last, reported: [...reported.keys()] }),
    );
    assert.match(shown.state, /connected to realm1/);
    assert.equal(shown.notice, "");
    assert.ok(shown.text.includes("0.1.0"), "the page shows the router version");
    assert.ok(shown.text.includes("realm1"), "the page shows the realm");

    // The screenshot: a PNG of the whole window.
    const shot = await cdp.send<{ data: string }>("Page.captureScreenshot", { format: "png" });
    const png = Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0));
    const size = isPng(png);
    assert.ok(size, "the screenshot is a PNG");
    assert.equal(size.width, 1280);
    assert.equal(size.height, 900);
    assert.ok(png.length > 20_000, `a screenshot of a rendered page is not tiny (${png.length} B)`);
    const file = await Deno.makeTempFile({ prefix: "status_page_", suffix: ".png" });
    try {
      await Deno.writeFile(file, png);
      assert.equal((await Deno.stat(file)).size, png.length);
      const keep = Deno.env.get("STATUS_PAGE_SCREENSHOT");
      if (keep) await Deno.copyFile(file, keep);
    } finally {
      await Deno.remove(file);
    }
  } finally {
    await client[Symbol.asyncDispose]();
  }

  // on_leave removes the session; on_delete removes its subscription and registration.
  const gone = await until("the page to drop the session", async () => {
    const v = await view(cdp, session);
    return v.row === null && !v.text.includes(String(session)) &&
        !v.subs.includes("com.example.topic") && !v.regs.includes("com.example.proc")
      ? v
      : null;
  });
  assert.match(gone.state, /connected to realm1/);

  // The router shuts down: the page says so (GOODBYE system_shutdown) and will reconnect.
  await r.router.close(100);
  const closed = await until("the page to report the shutdown", async () => {
    const v = await view(cdp);
    return v.notice.includes("wamp.close.system_shutdown") ? v : null;
  });
  assert.match(closed.notice, /Reconnecting in \d+ s/);
  assert.equal(closed.state, "disconnected");
  assert.deepEqual(pageProblems(cdp), []);
});

Deno.test("status page: clear messages when it cannot connect or may not read the meta API", async () => {
  await using browser = await Browser.launch();
  const cdp = browser.page!;

  // No path speaks JSON: the page cannot connect and says why.
  {
    const config = testConfig();
    config.workers[0]!.transports[0]!.paths.ws.serializers = ["msgpack"];
    await using r = await startRouter(config);
    await cdp.navigate(`http://127.0.0.1:${r.port}/status`);
    const v = await until("the no-JSON-path message", async () => {
      const v = await view(cdp);
      return v.notice.includes("no WebSocket path that speaks JSON") ? v : null;
    });
    assert.equal(v.state, "unavailable");
  }

  // Anonymous access is not offered: the router's ABORT is shown, no automatic retry.
  {
    await using r = await startRouter(webConfig({
      paths: {
        ws: {
          type: "websocket",
          serializers: ["json"],
          auth: {
            ticket: {
              type: "static",
              principals: { alice: { ticket: "secret", role: "anonymous" } },
            },
          },
        },
      },
    }));
    await cdp.navigate(`http://127.0.0.1:${r.port}/status`);
    const v = await until("the refusal message", async () => {
      const v = await view(cdp);
      return v.state === "refused" ? v : null;
    });
    assert.match(
      v.notice,
      /refused the page's session on realm .realm1.: wamp\.error\.no_auth_method/,
    );
    assert.doesNotMatch(v.notice, /Reconnecting/);
  }

  // The role may not use the wamp.* meta API: each section names the refused URI.
  {
    await using r = await startRouter(testConfig({
      roles: [{
        name: "anonymous",
        permissions: [{
          uri: "com.example.",
          match: "prefix",
          allow: { call: true, register: true, publish: true, subscribe: true },
        }],
      }],
    }));
    await cdp.navigate(`http://127.0.0.1:${r.port}/status`);
    let last: PageView | null = null;
    const v = await until(
      "the not-authorized messages",
      async () => {
        last = await view(cdp);
        // The page shows each refusal as it arrives (subscriptions first, the list call
        // later), so wait until every section names both kinds of refusal.
        const { sessions, subs, regs } = last.errors;
        const complete = (line: string) =>
          line.includes("cannot subscribe") && line.includes("cannot call");
        return complete(sessions) && complete(subs) && complete(regs) ? last : null;
      },
      20_000,
      () => JSON.stringify(last),
    );
    // one line per error URI naming what was refused
    assert.equal(
      v.errors.sessions,
      "wamp.error.not_authorized: cannot subscribe to wamp.session.on_join, " +
        "wamp.session.on_leave, wamp.session.on_stats; cannot call wamp.session.list",
    );
    assert.match(
      v.errors.subs,
      /^wamp\.error\.not_authorized: cannot subscribe to .*wamp\.subscription\.on_create.*; cannot call wamp\.subscription\.list$/,
    );
    assert.match(
      v.errors.regs,
      /^wamp\.error\.not_authorized: cannot subscribe to .*wamp\.registration\.on_create.*; cannot call wamp\.registration\.list$/,
    );
    assert.match(v.notice, /role .anonymous.\) may not use parts of the wamp\.\* meta API/);
    assert.ok(v.text.includes("Unavailable."));
    assert.match(v.state, /connected to realm1/);
  }
  await cdp.navigate("about:blank");
  assert.deepEqual(pageProblems(cdp), []);
});

Deno.test("status page: the realm selector switches realms (first realm by default)", async () => {
  const allowAll = testConfig().workers[0]!.realms[0]!.roles;
  await using r = await startRouter(testConfig({}, [{ name: "realm2", roles: allowAll }]));
  await using browser = await Browser.launch();
  const cdp = browser.page!;
  const joined = await RawClient.join(r.url, "cbor", "realm2");
  await using _other = joined.client;
  const id = String(joined.session);
  const realmView = () =>
    cdp.evaluate<{ value: string; options: string[]; state: string; text: string }>(`({
      value: document.getElementById("realm").value,
      options: [...document.getElementById("realm").options].map((o) => o.value),
      state: document.getElementById("state").textContent,
      text: document.body.innerText,
    })`);

  await cdp.navigate(`http://127.0.0.1:${r.port}/status`);
  const first = await until("realm1 to be shown", async () => {
    const v = await realmView();
    return v.state === "connected to realm1" && v.text.includes("this page") ? v : null;
  });
  assert.equal(first.value, "realm1");
  assert.deepEqual(first.options, ["realm1", "realm2"]);
  assert.ok(!first.text.includes(id), "a realm2 session is not listed on realm1");

  await cdp.evaluate(`(() => {
    const s = document.getElementById("realm");
    s.value = "realm2";
    s.dispatchEvent(new Event("change"));
  })()`);
  const second = await until("realm2 to be shown with its session", async () => {
    const v = await realmView();
    return v.state === "connected to realm2" && v.text.includes(id) ? v : null;
  });
  assert.equal(second.value, "realm2");
  const row = await view(cdp, joined.session);
  assert.equal(row.row?.serializer, "cbor");
  // the choice is kept in the address (#realm=realm2), so a reload stays on realm2
  assert.match(await cdp.evaluate<string>("location.hash"), /^#realm=realm2$/);
  await cdp.navigate("about:blank");
  await cdp.navigate(`http://127.0.0.1:${r.port}/status#realm=realm2`);
  await until("realm2 from the address", async () => {
    const v = await realmView();
    return v.state === "connected to realm2" && v.value === "realm2" && v.text.includes(id);
  });
  await cdp.navigate("about:blank");
  assert.deepEqual(pageProblems(cdp), []);
});
