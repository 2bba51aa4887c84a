/**
 * Crossbar's `ubjson` serializer in a `serializers` list: accepted with one warning, not
 * served (no maintained npm codec handles it correctly; see NOT_OFFERED_SERIALIZERS in
 * src/config/crossbar.ts), and the endpoint serves the other serializers listed. Checked on the
 * wire with raw handshakes and with Autobahn|Python's UBJSON serializer (Debian's python3-autobahn
 * and the python3-ubjson it depends on), over WebSocket and RawSocket; and, with py-ubjson, that
 * the WAMP test vectors carry two encodings under the name (UBJSON and BJData).
 */

import assert from "node:assert/strict";
import { createRouter } from "../mod.ts";
import { parseConfig } from "../src/config/config.ts";
import { readExactly } from "../src/transport/rawsocket.ts";
import { ALLOW_ALL } from "./_helpers.ts";

/** A web transport and a RawSocket transport whose endpoints both list `ubjson` first. */
const CONFIG = {
  version: 2,
  workers: [{
    type: "router",
    realms: [{ name: "realm1", roles: [ALLOW_ALL] }],
    transports: [{
      type: "web",
      endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
      paths: { ws: { type: "websocket", serializers: ["ubjson", "cbor", "json"] } },
    }, {
      type: "rawsocket",
      endpoint: { type: "tcp", interface: "127.0.0.1", port: 0 },
      serializers: ["ubjson", "json"],
    }],
  }],
};

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./interop/ubjson_client.py", import.meta.url).pathname;

/** Runs the Autobahn|Python client with `args`: its JSON line, and what it logged. */
async function python(
  args: string[],
): Promise<{ res: Record<string, unknown>; stderr: string }> {
  const out = await new Deno.Command(PYTHON, {
    args: [SCRIPT, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { PYTHONDONTWRITEBYTECODE: "1" },
    signal: AbortSignal.timeout(30_000),
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `ubjson_client.py ${args.join(" ")} failed:\n${stderr}`);
  const res = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  return { res, stderr };
}

/**
 * Reads every `ubjson` sample of the WAMP test vectors with py-ubjson (the codec Debian's
 * Autobahn|Python uses) and compares it with the sample's MessagePack value; prints counts.
 */
const VECTOR_CHECK = `
import glob, json, sys, msgpack, ubjson
counts = {"samples": 0, "ubjson_read": 0, "bjdata_same_bytes": 0, "bjdata_rejected": 0}
for name in glob.glob(sys.argv[1] + "/singlemessage/**/*.json", recursive=True):
    for sample in json.load(open(name)).get("samples", []):
        variants = sample.get("serializers", {}).get("ubjson")
        if not variants:
            continue
        counts["samples"] += 1
        want = msgpack.unpackb(bytes.fromhex(sample["serializers"]["msgpack"][0]["bytes_hex"]),
                               strict_map_key=False)
        legacy = [v["bytes_hex"] for v in variants if "py-ubjson" in v.get("note", "")]
        bjdata = [v["bytes_hex"] for v in variants if "BJData" in v.get("note", "")]
        if legacy and ubjson.loadb(bytes.fromhex(legacy[0])) == want:
            counts["ubjson_read"] += 1
        if bjdata and legacy and bjdata[0] == legacy[0]:
            counts["bjdata_same_bytes"] += 1
        elif bjdata:
            try:
                ubjson.loadb(bytes.fromhex(bjdata[0]))
            except Exception:
                counts["bjdata_rejected"] += 1
print(json.dumps(counts))
`;

Deno.test("ubjson: the WAMP test vectors hold two encodings under the name", async () => {
  const dir = new URL("../../shared/wamp-testvectors/", import.meta.url).pathname;
  const out = await new Deno.Command(PYTHON, {
    args: ["-c", VECTOR_CHECK, dir],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { PYTHONDONTWRITEBYTECODE: "1" },
    signal: AbortSignal.timeout(30_000),
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const counts = JSON.parse(new TextDecoder().decode(out.stdout));
  // Every sample has a py-ubjson (UBJSON) and a bjdata (BJData) variant; py-ubjson reads each
  // UBJSON one, and rejects every BJData one whose bytes differ (all but small-integer ones).
  assert.ok(counts.samples >= 30, JSON.stringify(counts));
  assert.equal(counts.ubjson_read, counts.samples, JSON.stringify(counts));
  assert.equal(
    counts.bjdata_rejected + counts.bjdata_same_bytes,
    counts.samples,
    JSON.stringify(counts),
  );
  assert.ok(counts.bjdata_rejected > counts.samples / 2, JSON.stringify(counts));
});

Deno.test("ubjson: one warning per endpoint, the others served", () => {
  const config = parseConfig(CONFIG);
  const [web, rawsocket] = config.transports;
  assert.equal(web!.type, "web");
  assert.deepEqual(web!.paths.get("ws")!.serializers, ["cbor", "json"]);
  assert.equal(rawsocket!.type, "rawsocket");
  assert.deepEqual(rawsocket!.rawsocket!.serializers, ["json"]);
  assert.deepEqual(config.warnings?.map((w) => w.path), [
    "workers[0].transports[0].paths.ws.serializers[0]",
    "workers[0].transports[1].serializers[0]",
  ]);
});

Deno.test("ubjson: not negotiated on the wire, the other serializers are", async (t) => {
  const router = createRouter(CONFIG);
  try {
    const [web, rawsocket] = await router.serve();
    const port = web!.port;
    const rsPort = rawsocket!.port;
    const wsUrl = `ws://127.0.0.1:${port}/ws`;

    await t.step("WebSocket: wamp.2.ubjson alone is refused with 400", async () => {
      const res = await fetch(`http://127.0.0.1:${port}/ws`, {
        headers: {
          upgrade: "websocket",
          connection: "Upgrade",
          "sec-websocket-version": "13",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
          "sec-websocket-protocol": "wamp.2.ubjson",
        },
      });
      assert.equal(res.status, 400);
      assert.match(await res.text(), /No supported WAMP subprotocol offered/);
    });

    await t.step("WebSocket: ubjson first, then cbor, negotiates cbor", async () => {
      const ws = new WebSocket(wsUrl, ["wamp.2.ubjson", "wamp.2.cbor"]);
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error("WebSocket refused"));
      });
      assert.equal(ws.protocol, "wamp.2.cbor");
      const closed = new Promise((resolve) => ws.onclose = resolve);
      ws.close();
      await closed;
    });

    await t.step(
      "RawSocket: serializer id 4 gets 'serializer unsupported', id 1 is served",
      async () => {
        const handshake = async (octet: number) => {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: rsPort });
          try {
            await conn.write(new Uint8Array([0x7f, octet, 0, 0]));
            return [...await readExactly(conn, 4)];
          } finally {
            conn.close();
          }
        };
        assert.deepEqual(await handshake(0xf4), [0x7f, 0x10, 0, 0]);
        const accepted = await handshake(0xf1);
        assert.equal(accepted[0], 0x7f);
        assert.equal(accepted[1]! & 0x0f, 1);
      },
    );

    await t.step("Autobahn|Python offering ubjson, json over WebSocket joins on json", async () => {
      const { res } = await python(["--url", wsUrl, "--serializers", "ubjson,json"]);
      assert.deepEqual(res, { joined: true, serializer: "json", echo: ["héllo ✓", 2 ** 53, 1.5] });
    });

    await t.step("Autobahn|Python offering only ubjson over WebSocket is refused", async () => {
      const { res, stderr } = await python(["--url", wsUrl, "--serializers", "ubjson"]);
      assert.equal(res.joined, false, JSON.stringify(res));
      assert.match(stderr, /upgrade failed \[400\]/);
    });

    await t.step("Autobahn|Python asking for ubjson over RawSocket is refused", async () => {
      const { res, stderr } = await python(["--port", String(rsPort), "--rawsocket", "ubjson"]);
      assert.equal(res.joined, false, JSON.stringify(res));
      assert.match(stderr, /serializer unsupported/);
    });

    await t.step("Autobahn|Python asking for json over RawSocket joins", async () => {
      const { res } = await python(["--port", String(rsPort), "--rawsocket", "json"]);
      assert.deepEqual(res, { joined: true, serializer: "json", echo: ["héllo ✓", 2 ** 53, 1.5] });
    });
  } finally {
    await router.close(100);
  }
});
