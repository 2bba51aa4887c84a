/**
 * TLS client certificate authentication (Crossbar's `tls` method) over real TLS connections:
 * a CA, client certificates and a server certificate made here with openssl; an endpoint with
 * `tls.ca_certificates` requires a client certificate chaining to them (done with `node:tls`,
 * since `Deno.listenTls` cannot ask for one). Clients: Deno's WebSocket with an HttpClient
 * holding the client certificate (raw WAMP), and Autobahn|Python with an ssl context loading it.
 */

import assert from "node:assert/strict";
import { parseConfig } from "../src/config/config.ts";
import { type CertFiles, openssl, root, signed } from "./_certificates.ts";
import { ALLOW_ALL, startRouter } from "./_helpers.ts";
import { python, runPython } from "./interop/auth_client.ts";

type D = Record<string, unknown>;

const DIR = await Deno.makeTempDir({ prefix: "switchboard-tls-auth-" });

/** A self-signed CA. */
async function ca(name: string): Promise<CertFiles> {
  return await root(DIR, name, [
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  ]);
}

/** A certificate signed by `issuer` (`server`: for 127.0.0.1, else a client certificate). */
async function leaf(name: string, issuer: CertFiles, server = false) {
  const { cert, key } = await signed(
    DIR,
    name,
    issuer,
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
      (server
        ? "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n"
        : "extendedKeyUsage=clientAuth\n"),
  );
  const fp = async (alg: string) =>
    (await openssl(["x509", "-in", cert, "-noout", "-fingerprint", `-${alg}`])).trim().split(
      "=",
    )[1]!;
  return { cert, key, sha1: await fp("sha1"), sha256: await fp("sha256") };
}

const CA = await ca("clients-ca");
const OTHER_CA = await ca("other-ca");
const SERVER = await leaf("server", CA, true);
const CLIENT0 = await leaf("client_0", CA);
const CLIENT1 = await leaf("client_1", CA);
const STRANGER = await leaf("stranger", CA);
const FORGED = await leaf("forged", OTHER_CA);

const ROLES = [ALLOW_ALL, { ...ALLOW_ALL, name: "backend" }];

function config(auth: D, tls: D | null = { ca_certificates: [CA.cert] }) {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: ROLES }],
      transports: [{
        type: "websocket",
        endpoint: {
          type: "tcp",
          interface: "127.0.0.1",
          port: 0,
          ...(tls ? { tls: { certificate: SERVER.cert, key: SERVER.key, ...tls } } : {}),
        },
        serializers: ["json"],
        auth,
      }],
    }],
  };
}

const STATIC = {
  tls: {
    type: "static",
    principals: {
      client_0: { "certificate-sha256": CLIENT0.sha256, role: "backend" },
      // Crossbar's key, colons and case as openssl prints them
      client_1: { "certificate-sha1": CLIENT1.sha1.toLowerCase(), role: "backend" },
    },
  },
};

const ROLES_HELLO = { subscriber: {}, publisher: {}, caller: {}, callee: {} };

/**
 * Opens wss:// with `client` (null: no client certificate) and sends HELLO; resolves to the
 * reply, or to `{refused}` when the TLS connection or WebSocket failed.
 */
async function hello(url: string, client: { cert: string; key: string } | null, details: D = {}) {
  const http = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(CA.cert)],
    ...(client
      ? { cert: await Deno.readTextFile(client.cert), key: await Deno.readTextFile(client.key) }
      : {}),
  });
  const ws = new WebSocket(url, { protocols: ["wamp.2.json"], client: http } as WebSocketOptions);
  try {
    return await new Promise<unknown[] | { refused: true }>((resolve) => {
      ws.onopen = () =>
        ws.send(
          JSON.stringify([1, "realm1", { roles: ROLES_HELLO, authmethods: ["tls"], ...details }]),
        );
      ws.onmessage = (e) => resolve(JSON.parse(e.data as string));
      ws.onerror = () => resolve({ refused: true });
      ws.onclose = () => resolve({ refused: true });
    });
  } finally {
    if (ws.readyState !== WebSocket.CLOSED) {
      const closed = new Promise((r) => ws.addEventListener("close", r));
      ws.close();
      await closed;
    }
    http.close();
  }
}

Deno.test("tls: a client certificate from the configured CA names its principal; WELCOME without a challenge", async () => {
  await using r = await startRouter(config(STATIC));
  assert.match(r.url, /^wss:/);
  for (const [client, authid] of [[CLIENT0, "client_0"], [CLIENT1, "client_1"]] as const) {
    const w = await hello(r.url, client) as unknown[];
    assert.equal(w[0], 2, JSON.stringify(w));
    const d = w[2] as D;
    assert.deepEqual([d.authid, d.authrole, d.authmethod, d.authprovider], [
      authid,
      "backend",
      "tls",
      "static",
    ]);
  }
});

Deno.test("tls: refused without a certificate, with one from another CA; unknown or mismatched principals abort", async () => {
  await using r = await startRouter(config(STATIC));
  assert.deepEqual(await hello(r.url, null), { refused: true });
  assert.deepEqual(await hello(r.url, FORGED), { refused: true });
  const unknown = await hello(r.url, STRANGER) as unknown[];
  assert.deepEqual([unknown[0], unknown[2]], [3, "wamp.error.not_authorized"]);
  const mismatch = await hello(r.url, CLIENT0, { authid: "client_1" }) as unknown[];
  assert.deepEqual([mismatch[0], mismatch[2]], [3, "wamp.error.not_authorized"]);
  assert.deepEqual((unknown[1] as D).message, (mismatch[1] as D).message);
});

Deno.test("tls: a dynamic authenticator gets the verified certificate in details.transport.peer_cert", async () => {
  await using r = await startRouter(config({
    tls: { type: "dynamic", authenticator: "com.example.authenticate" },
  }));
  const service = await r.router.session("realm1", { authrole: "trusted", authid: "auth" });
  let seen: D | null = null;
  await service.register("com.example.authenticate", (args) => {
    const details = (args as [string, string | null, D])[2];
    seen = (details.transport as D).peer_cert as D;
    return { role: "backend", authid: `cert:${(seen.subject as D).CN}` };
  });
  const w = await hello(r.url, STRANGER) as unknown[];
  assert.equal(w[0], 2, JSON.stringify(w));
  assert.equal((w[2] as D).authid, "cert:stranger");
  assert.equal(seen!.sha256, STRANGER.sha256);
  assert.equal((seen!.issuer as D).CN, "clients-ca");
  await service.close();
});

Deno.test("tls: Autobahn|Python with a client certificate joins as its principal", async () => {
  const py = await python();
  await using r = await startRouter(config(STATIC));
  const ok = await runPython(py, r.url, "json", [
    "--method",
    "tls",
    "--cafile",
    CA.cert,
    "--client-cert",
    CLIENT0.cert,
    "--client-key",
    CLIENT0.key,
  ]);
  assert.equal(ok.joined, true, JSON.stringify(ok));
  assert.deepEqual([ok.authid, ok.authmethod, ok.challenge], ["client_0", "tls", null]);
  const refused = await runPython(py, r.url, "json", ["--method", "tls", "--cafile", CA.cert]);
  assert.equal(refused.joined, false, JSON.stringify(refused));
});

Deno.test("tls config: tls authentication needs endpoint.tls.ca_certificates", () => {
  const parse = (c: unknown) => () => parseConfig(c, { env: () => undefined });
  assert.throws(parse(config(STATIC, {})), /auth\.tls: .*add "ca_certificates"/);
  assert.throws(parse(config(STATIC, null)), /auth\.tls: .*has no "tls"/);
  assert.throws(
    parse(config({ tls: { type: "static", principals: { a: { role: "backend" } } } })),
    /principals\.a: must name the client certificate/,
  );
  assert.throws(
    parse(
      config({
        tls: { type: "static", principals: { a: { "certificate-sha1": "AB", role: "x" } } },
      }),
    ),
    /certificate-sha1"?\]?: must be the certificate's fingerprint: 20 bytes/,
  );
  assert.throws(
    parse(config(STATIC, { ca_certificates: [] })),
    /ca_certificates: must list at least one/,
  );
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(DIR, { recursive: true });
  } catch {
    // already gone
  }
});
