/**
 * Failure reports: the offending message as a literal and as wire bytes, the last exchanges,
 * the router's error log lines, and the outcome of replaying the culprit alone on a fresh
 * session (after the same kind of HELLO), which tells a message that fails by itself from one
 * that needs the session's history.
 *
 * @module
 */

import type { SerializerName } from "../../src/serializer/serializer.ts";
import { type Conn, type Incoming, openConn } from "./conn.ts";
import { errText, lit, wireText } from "./describe.ts";
import { probe, PROBE_BASE } from "./oracle.ts";
import type { Endpoint } from "./target.ts";
import type { Wire } from "./wire.ts";

/** A message a session sent, as it described it and as it went on the wire. */
export interface Sent {
  what: string;
  wire: Wire;
}

/** A failure's culprit and what it takes to send it again on a fresh connection. */
export interface Replay {
  /** The failure (index in the batch's failures) the outcome is appended to. */
  index: number;
  transport: "ws" | "rs";
  serializer: SerializerName;
  /** RawSocket: the client's maximum, 2^(9+exponent). */
  exponent: number;
  /** An anonymous HELLO to the same realm with the same roles, when the culprit came after one. */
  hello: unknown[] | null;
  /** When the culprit answered a CHALLENGE: the original HELLO, to get the same CHALLENGE. */
  authHello: Wire | null;
  culprit: Wire;
}

/** The text of one failure of a session. */
export function failureText(
  kind: string,
  detail: string,
  session: {
    where: string;
    hello: unknown[] | null;
    sent: readonly Sent[];
    transcript: readonly string[];
  },
  culprit: Sent | undefined,
  log: readonly string[],
): string {
  const lines = [
    `[${kind}] ${session.where}`,
    `  ${detail}`,
    `  HELLO: ${session.hello ? lit(session.hello) : "(none)"}`,
    `  culprit (message #${culprit ? session.sent.indexOf(culprit) + 1 : 0}): ${
      culprit?.what ?? "(none)"
    }`,
    `  culprit on the wire: ${culprit ? wireText(culprit.wire) : "(none)"}`,
  ];
  const last = session.transcript.slice(-10).map((t) => t.slice(0, 400));
  if (last.length > 0) lines.push(`  last exchanges:\n    ${last.join("\n    ")}`);
  if (log.length > 0) lines.push(`  router log:\n    ${log.slice(0, 6).join("\n    ")}`);
  return lines.join("\n");
}

/** Replays a failure's culprit alone on a fresh session (after its HELLO) and describes the outcome. */
export async function replayAlone(endpoint: Endpoint, rp: Replay): Promise<string> {
  let conn: Conn;
  try {
    conn = await openConn(endpoint, rp.transport, rp.serializer, rp.exponent);
  } catch (e) {
    return `replay: could not connect (${errText(e)})`;
  }
  await using _c = conn;
  const describe = (i: Incoming) =>
    i.kind === "msg" ? lit(i.msg) : i.kind === "bad" ? `undecodable (${i.error})` : i.kind;
  if (rp.hello) {
    conn.sendMsg(rp.hello);
    const w = await conn.next();
    if (w.kind !== "msg" || w.msg[0] !== 2) return `replay: HELLO answered ${describe(w)}`;
  } else if (rp.authHello) {
    conn.sendWire(rp.authHello);
    const c = await conn.next();
    if (c.kind !== "msg" || c.msg[0] !== 4) return `replay: HELLO answered ${describe(c)}`;
  }
  conn.sendWire(rp.culprit);
  if (rp.hello) conn.sendMsg(probe(PROBE_BASE));
  const first = await conn.next();
  const after = rp.hello
    ? " after an anonymous HELLO"
    : rp.authHello
    ? " after the same HELLO and its CHALLENGE"
    : "";
  return `replay of the culprit alone on a fresh ${conn.label} session${after}: ${describe(first)}`;
}
