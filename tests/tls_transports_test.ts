/**
 * TLS on every TCP transport type, with certificates made here by openssl (a root CA, an
 * intermediate CA, a server certificate for 127.0.0.1 signed by the intermediate): RawSocket
 * over TLS (a Deno TLS client speaking the RawSocket handshake, and Autobahn|Python's asyncio
 * RawSocket client over TLS, `rss://`), a `universal` transport over TLS (RawSocket, WebSocket
 * and HTTPS on one port), `chain_certificates` (a client trusting only the root fails without
 * them), `dhparam`/`ciphers` accepted with a warning, and the config errors.
 */

import assert from "node:assert/strict";
import { checkServedFiles, ConfigError, createRouter, parseConfig, systemClock } from "../mod.ts";
import { type CertFiles, root, signed } from "./_certificates.ts";
import { ALLOW_ALL, startRouter } from "./_helpers.ts";
import { python, runPython } from "./interop/auth_client.ts";

type D = Record<string, unknown>;

const DIR = await Deno.makeTempDir({ prefix: "switchboard-tls-transports-" });

/** A certificate for `name`: self-signed (`issuer` null) or signed by `issuer`. */
async function cert(name: string, issuer: CertFiles | null, ext: string): Promise<CertFiles> {
  if (issuer !== null) return await signed(DIR, name, issuer, ext);
  return await root(DIR, name, ["-extensions", "v3", "-config", await opensslConfig(ext)]);
}

async function opensslConfig(ext: string): Promise<string> {
  const file = await Deno.makeTempFile({ dir: DIR, suffix: ".cnf" });
  await Deno.writeTextFile(file, `[req]\ndistinguished_name=dn\n[dn]\n[v3]\n${ext}`);
  return file;
}

const CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
const ROOT = await cert("root-ca", null, CA_EXT);
const INTERMEDIATE = await cert("intermediate-ca", ROOT, CA_EXT);
const SERVER = await cert(
  "server",
  INTERMEDIATE,
  "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
    "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
);
const ROOT_PEM = await Deno.readTextFile(ROOT.cert);

const TLS = { certificate: SERVER.cert, key: SERVER.key, chain_certificates: [INTERMEDIATE.cert] };

function node(transport: D): D {
  return {
    version: 2,
    workers: [{
      type: "router",
      realms: [{ name: "realm1", roles: [ALLOW_ALL] }],
      transports: [transport],
    }],
  };
}

function rawsocketTls(tls: D = TLS): D {
  return node({
    type: "rawsocket",
    endpoint: { type: "tcp", interface: "127.0.0.1", port: 0, tls },
    serializers: ["json"],
  });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const got = await conn.read(out.subarray(at));
    if (got === null) throw new Error(`connection closed after ${at} of ${n} bytes`);
    at += got;
  }
  return out;
}

/** RawSocket over a connection: handshake for JSON, HELLO, and the reply message. */
async function rawSocketJoin(conn: Deno.Conn): Promise<unknown[]> {
  await conn.write(new Uint8Array([0x7f, 0xf1, 0, 0]));
  const reply = await readExactly(conn, 4);
  assert.equal(reply[0], 0x7f);
  assert.equal(reply[1]! & 0x0f, 1, "JSON accepted");
  const hello = encoder.encode(JSON.stringify([1, "realm1", { roles: { caller: {} } }]));
  const header = new Uint8Array([
    0,
    (hello.length >> 16) & 0xff,
    (hello.length >> 8) & 0xff,
    hello.length & 0xff,
  ]);
  await conn.write(header);
  await conn.write(hello);
  for (;;) {
    const h = await readExactly(conn, 4);
    const length = (h[1]! << 16) | (h[2]! << 8) | h[3]!;
    const body = await readExactly(conn, length);
    if ((h[0]! & 0x07) === 0) return JSON.parse(decoder.decode(body)) as unknown[];
  }
}

Deno.test("rawsocket over TLS: a TLS client speaking the RawSocket handshake joins", async () => {
  await using r = await startRouter(rawsocketTls());
  assert.match(r.url, /^rss:\/\/127\.0\.0\.1:\d+$/);
  const conn = await Deno.connectTls({ hostname: "127.0.0.1", port: r.port, caCerts: [ROOT_PEM] });
  try {
    const welcome = await rawSocketJoin(conn);
    assert.equal(welcome[0], 2, JSON.stringify(welcome));
  } finally {
    conn.close();
  }
  // a plain (non-TLS) RawSocket handshake on the TLS port gets no RawSocket reply
  const plain = await Deno.connect({ hostname: "127.0.0.1", port: r.port });
  try {
    await plain.write(new Uint8Array([0x7f, 0xf1, 0, 0]));
    const buf = new Uint8Array(16);
    const n = await plain.read(buf).catch(() => null);
    assert.ok(n === null || buf[0] !== 0x7f, "no RawSocket reply without TLS");
  } finally {
    plain.close();
  }
});

Deno.test("chain_certificates: the intermediate is sent; without it a root-only client fails", async () => {
  {
    await using r = await startRouter(rawsocketTls({ certificate: SERVER.cert, key: SERVER.key }));
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: r.port,
      caCerts: [ROOT_PEM],
    });
    try {
      await assert.rejects(conn.handshake(), /certificate|UnknownIssuer|invalid peer/i);
    } finally {
      conn.close();
    }
  }
  {
    await using r = await startRouter(rawsocketTls());
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: r.port,
      caCerts: [ROOT_PEM],
    });
    try {
      await conn.handshake();
    } finally {
      conn.close();
    }
  }
});

Deno.test("universal over TLS: RawSocket, WebSocket and HTTPS on one port", async () => {
  const dir = await Deno.makeTempDir({ dir: DIR });
  await Deno.writeTextFile(`${dir}/index.html`, "secure home");
  await using r = await startRouter(node({
    type: "universal",
    endpoint: { type: "tcp", interface: "127.0.0.1", port: 0, tls: TLS },
    rawsocket: { serializers: ["json"] },
    websocket: { ws: { serializers: ["json"] } },
    web: { paths: { "/": { type: "static", directory: dir } } },
  }));
  const urls = (await r.listeners())[0]!.urls;
  assert.deepEqual(urls.map((u) => u.split(":")[0]), ["rss", "wss"]);
  const client = Deno.createHttpClient({ caCerts: [ROOT_PEM] });
  try {
    const res = await fetch(`https://127.0.0.1:${r.port}/`, { client });
    assert.equal(await res.text(), "secure home");
    const ws = new WebSocket(`wss://127.0.0.1:${r.port}/ws`, {
      protocols: ["wamp.2.json"],
      client,
    } as WebSocketOptions);
    const welcome = await new Promise<unknown[]>((resolve, reject) => {
      ws.onopen = () => ws.send(JSON.stringify([1, "realm1", { roles: { caller: {} } }]));
      ws.onmessage = (e) => resolve(JSON.parse(e.data as string));
      ws.onerror = (e) => reject(new Error((e as ErrorEvent).message));
    });
    assert.equal(welcome[0], 2);
    const closed = new Promise((resolve) => (ws.onclose = resolve));
    ws.close();
    await closed;
  } finally {
    client.close();
  }
  const conn = await Deno.connectTls({ hostname: "127.0.0.1", port: r.port, caCerts: [ROOT_PEM] });
  try {
    assert.equal((await rawSocketJoin(conn))[0], 2);
  } finally {
    conn.close();
  }
});

Deno.test("Autobahn|Python over rss:// and wss:// (with the chain sent, the root as its CA)", async () => {
  const py = await python();
  await using rs = await startRouter(rawsocketTls());
  const script = new URL("./interop/rawsocket_tls_client.py", import.meta.url).pathname;
  const out = await new Deno.Command(py, {
    args: [script, "--url", rs.url, "--cafile", ROOT.cert],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { PYTHONDONTWRITEBYTECODE: "1" },
  }).output();
  const stdout = decoder.decode(out.stdout).trim();
  assert.ok(out.success, `exit ${out.code}: ${stdout} ${decoder.decode(out.stderr)}`);
  const result = JSON.parse(stdout.split("\n").at(-1)!);
  assert.ok(result.session > 0, stdout);
  assert.equal(result.transport.type, "rawsocket");
  assert.equal(result.transport.channel_type, "tls");
  assert.equal(result.transport.is_secure, true);

  await using u = await startRouter(node({
    type: "universal",
    endpoint: { type: "tcp", interface: "127.0.0.1", port: 0, tls: TLS },
    websocket: { ws: { serializers: ["json"] } },
  }));
  const wss = await runPython(py, `wss://127.0.0.1:${u.port}/ws`, "json", [
    "--method",
    "anonymous",
    "--cafile",
    ROOT.cert,
  ]);
  assert.equal(wss.joined, true, JSON.stringify(wss));
});

Deno.test("TLS config: dhparam and ciphers warn; client certificates only on websocket/web", () => {
  const parsed = parseConfig(
    rawsocketTls({ ...TLS, dhparam: "dh.pem", ciphers: "ECDHE-RSA-AES128-GCM-SHA256" }),
  );
  const tls = "workers[0].transports[0].endpoint.tls";
  assert.deepEqual(parsed.warnings?.map((w) => w.path), [`${tls}.dhparam`, `${tls}.ciphers`]);
  assert.match(parsed.warnings![0]!.message, /rustls/);
  const t = parsed.transports[0]!;
  assert.deepEqual(t.endpoint.tls?.chain_certificates, [INTERMEDIATE.cert]);
  const cases: [D, string, RegExp][] = [
    [
      rawsocketTls({ ...TLS, ca_certificates: [ROOT.cert] }),
      `${tls}.ca_certificates`,
      /only available/,
    ],
    [
      node({
        type: "universal",
        endpoint: { type: "tcp", port: 0, tls: { ...TLS, ca_certificates: [ROOT.cert] } },
        rawsocket: {},
      }),
      `${tls}.ca_certificates`,
      /only available/,
    ],
    [rawsocketTls({ ...TLS, chain_certificates: [] }), `${tls}.chain_certificates`, /at least one/],
    [rawsocketTls({ ...TLS, chain_certificates: "x.pem" }), `${tls}.chain_certificates`, /array/],
    [rawsocketTls({ ...TLS, dhparam: 1 }), `${tls}.dhparam`, /string/],
    [rawsocketTls({ ...TLS, hostname: "x" }), `${tls}.hostname`, /unknown key/],
  ];
  for (const [config, path, reason] of cases) {
    let caught: unknown;
    try {
      parseConfig(config);
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof ConfigError, `${path}: ${String(caught)}`);
    assert.equal(caught.path, path);
    assert.match(caught.reason, reason);
  }
});

Deno.test("TLS files: an unreadable chain file fails serve() naming it; checkServedFiles lists all", async () => {
  const config = rawsocketTls({
    certificate: `${DIR}/missing-cert.pem`,
    key: SERVER.key,
    chain_certificates: [INTERMEDIATE.cert, `${DIR}/missing-chain.pem`],
  });
  const problems = await checkServedFiles(parseConfig(config), systemClock);
  const tls = "workers[0].transports[0].endpoint.tls";
  assert.deepEqual(problems.map((p) => p.path), [
    `${tls}.certificate`,
    `${tls}.chain_certificates[1]`,
  ]);
  const router = createRouter(
    rawsocketTls({ ...TLS, chain_certificates: [`${DIR}/missing-chain.pem`] }),
  );
  try {
    await assert.rejects(router.serve(), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.path, `${tls}.chain_certificates[0]`);
      return true;
    });
  } finally {
    await router.close(100);
  }
});

globalThis.addEventListener("unload", () => Deno.removeSync(DIR, { recursive: true }));
