/**
 * RawSocket handshakes on their own: partial ones, ones that are not RawSocket, reserved bits,
 * unknown serializers and announced lengths, with or without frames right behind them; the
 * router must answer each as the RawSocket spec says, or close.
 *
 * @module
 */

import { readExactly } from "../../src/transport/rawsocket.ts";
import { errText, hex } from "./describe.ts";
import { type FuzzEnv, seedText } from "./env.ts";
import { Rng, subSeed } from "./rng.ts";
import type { Endpoint } from "./target.ts";
import { randomBytes } from "./values.ts";
import { concat, writeAll } from "./wire.ts";

/** Largest RawSocket message the router accepts, as the exponent it announces (2^(9+L)). */
function routerExponent(endpoint: Endpoint): number {
  return Math.ceil(Math.log2(endpoint.maxMessageSize)) - 9;
}

/** RawSocket handshakes: partial, not RawSocket, reserved bits, unknown serializers, lengths. */
export async function handshakeSession(env: FuzzEnv, batch: number, index: number): Promise<void> {
  const rng = new Rng(subSeed(env.seed, batch, index, 7));
  const { endpoint } = env;
  const where = `${seedText(env.seed)} batch=${batch} session=${index} RawSocket handshake`;
  const conn = await Deno.connect({ hostname: endpoint.rsHost, port: endpoint.rsPort });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
  };
  const timer = setTimeout(close, endpoint.waitMs);
  try {
    const r = rng.int(100);
    if (r < 20) {
      const bytes = new Uint8Array([0x7f, 0xf1, 0, 0]).subarray(0, 1 + rng.int(3));
      await writeAll(conn, bytes);
      await conn.closeWrite();
      const rest = await readExactly(conn, 8);
      if (rest.length !== 0) {
        env.failures.push(`[handshake] ${where}: partial ${hex(bytes)} got ${hex(rest)}`);
      }
      return;
    }
    const hello = new Uint8Array([
      r < 35 ? rng.int(0x7f) : 0x7f,
      rng.int(256),
      rng.chance(0.7) ? 0 : rng.int(256),
      rng.chance(0.7) ? 0 : rng.int(256),
    ]);
    let expected: number[];
    if (hello[0] !== 0x7f) expected = [];
    else if (hello[2] !== 0 || hello[3] !== 0) expected = [0x7f, 0x30, 0, 0];
    else if ((hello[1]! & 0x0f) < 1 || (hello[1]! & 0x0f) > 3) expected = [0x7f, 0x10, 0, 0];
    else expected = [0x7f, (routerExponent(endpoint) << 4) | (hello[1]! & 0x0f), 0, 0];
    const accepted = expected.length === 4 && (expected[1]! & 0x0f) !== 0;
    // a client may send frames right behind an accepted handshake (not behind a refused one:
    // the router closes on them unread)
    const trailing = accepted && rng.chance(0.3)
      ? randomBytes(rng, rng.int(40))
      : new Uint8Array(0);
    await writeAll(conn, concat(hello, trailing));
    const reply = await readExactly(conn, 4);
    if (closed) {
      env.failures.push(
        `[hang] ${where}: no handshake reply to ${hex(hello)} within ${endpoint.waitMs} ms`,
      );
      return;
    }
    if (hex(reply) !== hex(new Uint8Array(expected))) {
      env.failures.push(
        `[handshake] ${where}: ${hex(hello)} answered ${hex(reply)}, not ${
          hex(new Uint8Array(expected))
        }`,
      );
    }
    if (accepted) {
      // leave after nothing or some garbage
      if (rng.chance(0.5)) await writeAll(conn, randomBytes(rng, rng.int(20)));
      return;
    }
    const rest = await readExactly(conn, 1);
    if (rest.length !== 0 && !closed) {
      env.failures.push(`[handshake] ${where}: data after a refused handshake ${hex(hello)}`);
    }
  } catch (e) {
    if (!closed) env.failures.push(`[handshake] ${where}: ${errText(e)}`);
  } finally {
    clearTimeout(timer);
    close();
  }
}
