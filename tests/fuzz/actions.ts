/**
 * One fuzz action of a session: a structured message (generated, maybe mutated), random garbage,
 * a valid message in the wrong kind of frame or another serializer, truncated or with corrupted
 * bytes, a hand-made nasty payload, a PUBLISH of exactly the size limit or one byte over it,
 * RawSocket PING/PONG, unknown frame types, reserved bits and huge announced lengths, or a whole
 * message that is not an array.
 *
 * @module
 */

import { SERIALIZERS } from "../../src/serializer/registry.ts";
import type { Serializer } from "../../src/serializer/serializer.ts";
import { type Conn, RsConn, WsConn } from "./conn.ts";
import { lit } from "./describe.ts";
import { CLIENT_TYPES, type Mode, structuredMessage, template } from "./messages.ts";
import { nastyPayload, sizedPublish } from "./payloads.ts";
import type { Rng } from "./rng.ts";
import type { FuzzState } from "./state.ts";
import { randomBytes, randomString } from "./values.ts";
import { concat, type Payload, rsFrame, utf8, type Wire } from "./wire.ts";

/** The serializer called `name`. */
function byName(name: string): Serializer {
  return SERIALIZERS.find((s) => s.name === name)!;
}

/** What an action needs of its session. */
export interface Actor {
  readonly rng: Rng;
  readonly st: FuzzState;
  readonly conn: Conn;
  readonly joined: boolean;
  /** The session's cryptosign public key (HELLOs may announce it). */
  readonly pubkey: string;
  /** The last HELLO sent before WELCOME, and its wire. */
  hello: unknown[] | null;
  helloWire: Wire | null;
  /** RawSocket PING payloads sent, to match the PONGs. */
  readonly pings: Uint8Array[];
  readonly sent: readonly { what: string; wire: Wire }[];
  /** Records a sent wire unit (null: it could not be encoded); returns whether it went out. */
  record(what: string, wire: Wire | null): boolean;
  /** Encodes, sends and records a message. */
  sendMsg(msg: unknown[], what?: string): boolean;
}

/** One fuzz action; returns whether it expects a WAMP reply when not joined. */
export function action(a: Actor, mode: Mode): boolean {
  const rng = a.rng;
  const conn = a.conn;
  const ser = conn.serializer;
  const r = mode === "soft" ? 0 : rng.int(100);
  if (r < 70) {
    const msg = structuredMessage(rng, a.st, mode, a.pubkey);
    if (msg[0] === 1 && !a.joined) a.hello = msg;
    const ok = a.sendMsg(msg);
    if (ok && msg[0] === 1 && !a.joined) a.helloWire = a.sent.at(-1)!.wire;
    return ok;
  }
  const valid = () => {
    const msg = template(rng, rng.weighted(CLIENT_TYPES), a.st, a.pubkey);
    try {
      const p = ser.encode(msg);
      return { msg, bytes: typeof p === "string" ? utf8.encode(p) : p.slice() };
    } catch {
      return { msg: [16, 1, {}, "com.x"], bytes: utf8.encode('[16,1,{},"com.x"]') };
    }
  };
  const asPayload = (bytes: Uint8Array): Payload =>
    ser.binary ? bytes : new TextDecoder().decode(bytes);
  if (r < 82) {
    const n = rng.pick([0, 1, 2, 5, 64, 1000]);
    const bytes = randomBytes(rng, n);
    const data = ser.binary ? bytes : randomString(rng, n);
    return a.record(`random garbage (${n} bytes)`, conn.sendPayload(data));
  }
  if (r < 86) {
    const { msg, bytes } = valid();
    if (conn instanceof WsConn) {
      const frame = ser.binary ? "text" : "binary";
      return a.record(
        `${lit(msg)} in a ${frame} frame`,
        conn.sendFrame(frame, ser.binary ? randomString(rng, 20) : bytes),
      );
    }
    const other = byName(rng.pick(["json", "msgpack", "cbor"]));
    let foreign: Payload;
    try {
      foreign = other.encode(msg);
    } catch {
      foreign = "[16,1,{}";
    }
    const fb = typeof foreign === "string" ? utf8.encode(foreign) : foreign.slice();
    return a.record(`${lit(msg)} encoded as ${other.name}`, conn.sendPayload(asPayload(fb)));
  }
  if (r < 90) {
    const { msg, bytes } = valid();
    const cut = rng.int(Math.max(1, bytes.length - 1));
    return a.record(
      `${lit(msg)} truncated to ${cut} of ${bytes.length} bytes`,
      conn.sendPayload(asPayload(bytes.slice(0, cut))),
    );
  }
  if (r < 94) {
    const { msg, bytes } = valid();
    const flips = 1 + rng.int(3);
    for (let i = 0; i < flips && bytes.length > 0; i++) {
      bytes[rng.int(bytes.length)] = rng.chance(0.5) ? rng.int(256) : bytes[0]! ^ 0x80;
    }
    return a.record(
      `${lit(msg)} with ${flips} corrupted byte(s)`,
      conn.sendPayload(asPayload(bytes)),
    );
  }
  if (r < 96) {
    const { what, data } = nastyPayload(rng, ser, ++a.st.request);
    return a.record(what, conn.sendPayload(data));
  }
  if (r < 97) {
    const size = conn.maxMessageSize + rng.pick([0, 1]);
    const data = sizedPublish(ser, ++a.st.request, size);
    return a.record(`PUBLISH of exactly ${size} bytes`, conn.sendPayload(data));
  }
  if (conn instanceof RsConn) {
    const op = rng.int(6);
    if (op === 0) {
      const body = randomBytes(rng, rng.pick([0, 3, 100]));
      a.pings.push(body);
      a.record(`RawSocket PING (${body.length} bytes)`, conn.sendRaw(rsFrame(1, body)));
      return false;
    }
    if (op === 1) {
      a.record("unsolicited RawSocket PONG", conn.sendRaw(rsFrame(2, randomBytes(rng, 4))));
      return false;
    }
    if (op === 2) {
      const type = 3 + rng.int(5);
      return a.record(
        `RawSocket frame of type ${type}`,
        conn.sendRaw(rsFrame(type, randomBytes(rng, 3))),
      );
    }
    if (op === 3) {
      const f = rsFrame(0, utf8.encode("[]"));
      f[0]! |= 0x08 << rng.int(5);
      return a.record("RawSocket frame with reserved bits set", conn.sendRaw(f));
    }
    if (op === 4) {
      return a.record(
        "RawSocket header announcing 16 MiB - 1",
        conn.sendRaw(new Uint8Array([0, 0xff, 0xff, 0xff])),
      );
    }
    return a.record(
      "two WAMP frames and a PING in one write",
      conn.sendRaw(concat(
        rsFrame(0, utf8.encode("[]")),
        rsFrame(1, new Uint8Array(0)),
        rsFrame(0, utf8.encode("[]")),
      )),
    );
  }
  const whole = rng.pick<unknown>([{}, [], 42, "str", null, [[]], [1.5], [NaN], [{ a: 1 }]]);
  return a.sendMsg(whole as unknown[], `whole message ${lit(whole)}`);
}
