/**
 * Headless Chromium driven over the DevTools protocol, for tests of the status page: launch
 * with its own profile directory, one page target, evaluate, navigate, and poll until.
 *
 * Chromium comes from Debian (`apt-get install -y chromium`); set `CHROMIUM` to use another
 * binary.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sleep } from "./_helpers.ts";

export function findChromium(): string {
  const candidates = [
    Deno.env.get("CHROMIUM"),
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
  ];
  for (const c of candidates) {
    if (!c) continue;
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch {
      // not there
    }
  }
  throw new Error(
    "Chromium not found: install it (apt-get install -y chromium) or set CHROMIUM=<path>",
  );
}

export interface CdpEvent {
  method: string;
  params: Record<string, unknown>;
}

/** A DevTools-protocol connection to one page target. */
export class Cdp {
  readonly #ws: WebSocket;
  readonly #closed: Promise<void>;
  readonly #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  #id = 0;
  readonly events: CdpEvent[] = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data as string);
      if (typeof msg.id === "number") {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`CDP: ${JSON.stringify(msg.error)}`));
        else p?.resolve(msg.result);
      } else if (typeof msg.method === "string" && this.events.length < 10_000) {
        this.events.push({ method: msg.method, params: msg.params ?? {} });
      }
    };
    this.#closed = new Promise((resolve) => {
      ws.onclose = () => {
        for (const p of this.#pending.values()) p.reject(new Error("CDP connection closed"));
        this.#pending.clear();
        resolve();
      };
    });
  }

  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    const cdp = new Cdp(ws);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = (e) => reject(new Error(`CDP websocket: ${(e as ErrorEvent).message}`));
    });
    return cdp;
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}) {
    const id = ++this.#id;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Evaluates `expression` in the page and returns its JSON value. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send<{ result: { value?: T }; exceptionDetails?: unknown }>(
      "Runtime.evaluate",
      { expression, returnByValue: true },
    );
    if (r.exceptionDetails) throw new Error(`evaluate: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value as T;
  }

  /** Navigates and waits for the load event. */
  async navigate(url: string): Promise<void> {
    const before = this.events.length;
    const r = await this.send<{ errorText?: string }>("Page.navigate", { url });
    if (r.errorText) throw new Error(`navigate ${url}: ${r.errorText}`);
    await until("the load event", () =>
      Promise.resolve(
        this.events.slice(before).some((e) => e.method === "Page.loadEventFired"),
      ));
  }

  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.close();
    }
    await this.#closed;
  }
}

/** Headless Chromium with its own profile directory, driven over CDP. */
export class Browser implements AsyncDisposable {
  readonly #process: Deno.ChildProcess;
  readonly #dir: string;
  readonly #stderrDone: Promise<void>;
  /** Chromium's first stderr lines, for diagnostics. */
  readonly stderr: string[];
  page: Cdp | null = null;

  private constructor(
    process: Deno.ChildProcess,
    dir: string,
    stderrDone: Promise<void>,
    stderr: string[],
  ) {
    this.#process = process;
    this.#dir = dir;
    this.#stderrDone = stderrDone;
    this.stderr = stderr;
  }

  static async launch(): Promise<Browser> {
    const binary = findChromium();
    const dir = await Deno.makeTempDir({ prefix: "switchboard-chromium-" });
    const process = new Deno.Command(binary, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${dir}`,
        "--remote-debugging-port=0",
        "--window-size=1280,900",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const endpoint = Promise.withResolvers<string>();
    const lines: string[] = [];
    // Read stderr to the end (a full pipe would block Chromium), noting the DevTools URL.
    const stderrDone = (async () => {
      let buffered = "";
      for await (const chunk of process.stderr.pipeThrough(new TextDecoderStream())) {
        buffered += chunk;
        let nl;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (lines.length < 500) lines.push(line);
          const m = line.match(/DevTools listening on (ws:\/\/\S+)/);
          if (m) endpoint.resolve(m[1]!);
        }
      }
      endpoint.reject(new Error(`Chromium exited early:\n${lines.join("\n")}`));
    })();
    const browser = new Browser(process, dir, stderrDone, lines);
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const wsUrl = await Promise.race([
        endpoint.promise,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no DevTools URL from Chromium:\n${lines.join("\n")}`)),
            30_000,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      const port = new URL(wsUrl).port;
      const res = await fetch(`http://127.0.0.1:${port}/json/list`);
      const targets = await res.json() as { type: string; webSocketDebuggerUrl: string }[];
      const page = targets.find((t) => t.type === "page");
      assert.ok(page, "Chromium has a page target");
      browser.page = await Cdp.connect(page.webSocketDebuggerUrl);
      await browser.page.send("Page.enable");
      await browser.page.send("Runtime.enable");
      await browser.page.send("Log.enable");
      // A fixed 1280x900 viewport (the window size includes the headless window's chrome).
      await browser.page.send("Emulation.setDeviceMetricsOverride", {
        width: 1280,
        height: 900,
        deviceScaleFactor: 1,
        mobile: false,
      });
    } catch (e) {
      await browser[Symbol.asyncDispose]();
      throw e;
    }
    return browser;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.page?.close();
    try {
      this.#process.kill("SIGTERM");
    } catch {
      // already gone
    }
    await this.#process.status;
    await this.#stderrDone.catch(() => {});
    // Chromium's helpers may still be finishing writes to the profile for a moment.
    for (let i = 0;; i++) {
      try {
        await Deno.remove(this.#dir, { recursive: true });
        break;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) break;
        if (i >= 20) throw e;
        await sleep(100);
      }
    }
  }
}

/** Polls `probe` until it returns a truthy value; fails after `ms` naming `what`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  ms = 20_000,
  describe: () => string = () => "",
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}. ${describe()}`);
    await sleep(100);
  }
}
