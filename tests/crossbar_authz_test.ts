/**
 * Crossbar's role keys over real WebSockets: `allow-by-default` (a role without permissions
 * allows everything, yet never the router's reserved `wamp.*` URIs; beside permissions it
 * changes nothing, so patterns cannot reach past them) and the version-1 permission form
 * (`"subscribe": true` directly on the permission).
 *
 * @module
 */

import assert from "node:assert/strict";
import { RawClient, type Running, startRouter } from "./_helpers.ts";

type D = Record<string, unknown>;
type Msg = unknown[];

const ALL = { call: true, register: true, publish: true, subscribe: true };
const NOT_AUTHORIZED = "wamp.error.not_authorized";
const INVALID_URI = "wamp.error.invalid_uri";

/** realm1 with one WebSocket path per role, each admitting anonymous sessions with that role. */
function config() {
  const role = (name: string) => ({
    type: "websocket",
    serializers: ["json", "msgpack"],
    auth: { anonymous: { type: "static", role: name } },
  });
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{
        name: "realm1",
        roles: [
          { name: "open", "allow-by-default": true },
          { name: "closed", "allow-by-default": false },
          {
            name: "mixed",
            "allow-by-default": true,
            permissions: [{ uri: "com.app.", match: "prefix", allow: { subscribe: true } }],
          },
          { name: "v1", permissions: [{ uri: "com.v1.*", subscribe: true, publish: true }] },
          { name: "backend", permissions: [{ uri: "", match: "prefix", allow: ALL }] },
        ],
      }],
      transports: [{
        type: "web",
        endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
        paths: Object.fromEntries(
          ["open", "closed", "mixed", "v1", "backend"].map((name) => [name, role(name)]),
        ),
      }],
    }],
  };
}

/** A joined client with request/reply helpers. */
class Peer implements AsyncDisposable {
  #request = 0;
  private constructor(readonly client: RawClient) {}

  static async join(r: Running, path: string): Promise<Peer> {
    const url = r.url.replace(/\/[^/]+$/, `/${path}`);
    return new Peer((await RawClient.join(url, "msgpack")).client);
  }

  /** Sends a request (its id goes in position 1); returns its reply or ERROR. */
  async request(msg: Msg): Promise<Msg> {
    const id = ++this.#request;
    this.client.send([msg[0], id, ...msg.slice(1)]);
    for (;;) {
      const m = await this.client.next();
      if ((m[0] === 8 && m[2] === id) || m[1] === id) return m;
      this.client.skipped.push(m);
    }
  }

  /** The error URI of a request, or `ok` when it got its reply. */
  async outcome(msg: Msg): Promise<string> {
    const reply = await this.request(msg);
    return reply[0] === 8 ? reply[4] as string : "ok";
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.client[Symbol.asyncDispose]();
  }
}

const SUBSCRIBE = 32, REGISTER = 64, PUBLISH = 16, CALL = 48;

Deno.test("allow-by-default true: every action on every URI, but no reserved URI", async () => {
  await using r = await startRouter(config());
  await using open = await Peer.join(r, "open");
  for (
    const msg of [
      [SUBSCRIBE, {}, "com.any.topic"],
      [SUBSCRIBE, { match: "prefix" }, ""],
      [REGISTER, {}, "com.any.proc"],
      [REGISTER, { match: "wildcard" }, "org..proc"],
      [PUBLISH, { acknowledge: true }, "com.any.topic", []],
    ]
  ) assert.equal(await open.outcome(msg), "ok", JSON.stringify(msg));
  // the router's own URIs stay out of reach, whatever the role allows
  for (
    const msg of [
      [REGISTER, {}, "wamp.session.count"],
      [REGISTER, { match: "prefix" }, "wamp."],
      [REGISTER, { match: "prefix" }, ""],
      [PUBLISH, { acknowledge: true }, "wamp.session.on_join", []],
    ]
  ) assert.equal(await open.outcome(msg), INVALID_URI, JSON.stringify(msg));
  // the registration works: a call reaches it
  await using backend = await Peer.join(r, "backend");
  const call = backend.request([CALL, {}, "com.any.proc", [1]]);
  const inv = await open.client.nextOf(68);
  open.client.send([70, inv[1], {}, ["done"]]);
  assert.deepEqual((await call).slice(0, 1).concat((await call)[3]), [50, "done"]);
});

Deno.test("allow-by-default false: nothing", async () => {
  await using r = await startRouter(config());
  await using closed = await Peer.join(r, "closed");
  for (
    const msg of [
      [SUBSCRIBE, {}, "com.any.topic"],
      [REGISTER, {}, "com.any.proc"],
      [PUBLISH, { acknowledge: true }, "com.any.topic", []],
      [CALL, {}, "com.any.proc", []],
    ]
  ) assert.equal(await closed.outcome(msg), NOT_AUTHORIZED, JSON.stringify(msg));
});

Deno.test("allow-by-default beside permissions: patterns cannot reach past them", async () => {
  await using r = await startRouter(config());
  await using mixed = await Peer.join(r, "mixed");
  await using backend = await Peer.join(r, "backend");
  // outside its permissions the flag allows nothing, exact or pattern
  for (
    const msg of [
      [SUBSCRIBE, {}, "com.other"],
      [SUBSCRIBE, { match: "prefix" }, "com.other."],
      [SUBSCRIBE, { match: "wildcard" }, "com..x"],
      [REGISTER, {}, "com.app.proc"],
      [REGISTER, { match: "prefix" }, "com.app."],
      [PUBLISH, { acknowledge: true }, "com.app.x", []],
    ]
  ) {
    // a wildcard com..x also covers com.app.x: allowed, but only for what it may see
    const expected = msg[1] && (msg[1] as D).match === "wildcard" ? "ok" : NOT_AUTHORIZED;
    assert.equal(await mixed.outcome(msg), expected, JSON.stringify(msg));
  }
  // a prefix subscription wider than its permissions gets only the events they allow
  const wide = await mixed.request([SUBSCRIBE, { match: "prefix" }, "com."]);
  assert.equal(wide[0], 33);
  for (const topic of ["com.other.secret", "com.app.news", "com.apps.private", "com.app.end"]) {
    assert.equal((await backend.request([PUBLISH, { acknowledge: true }, topic, [topic]]))[0], 17);
  }
  const seen: string[] = [];
  while (seen.at(-1) !== "com.app.end") {
    const ev = await mixed.client.nextOf(36);
    if (ev[1] === wide[2]) seen.push((ev[4] as string[])[0]!);
  }
  assert.deepEqual(seen, ["com.app.news", "com.app.end"]);
});

Deno.test("the version-1 permission form allows what it names, nothing else", async () => {
  await using r = await startRouter(config());
  await using v1 = await Peer.join(r, "v1");
  assert.equal(await v1.outcome([SUBSCRIBE, {}, "com.v1.news"]), "ok");
  assert.equal(await v1.outcome([PUBLISH, { acknowledge: true }, "com.v1.news", []]), "ok");
  assert.equal(await v1.outcome([REGISTER, {}, "com.v1.proc"]), NOT_AUTHORIZED);
  assert.equal(await v1.outcome([CALL, {}, "com.v1.proc", []]), NOT_AUTHORIZED);
  assert.equal(await v1.outcome([SUBSCRIBE, {}, "com.v2.news"]), NOT_AUTHORIZED);
});
