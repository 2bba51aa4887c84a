/**
 * The per-session driver: a fuzz session connects (transport, serializer and client maximum
 * drawn from its stream), maybe sends something before HELLO, joins (through CHALLENGE and
 * AUTHENTICATE when it asked for authentication), then sends fuzz actions, each followed by a
 * probe, and ends with GOODBYE (maybe joining again), ABORT or just a close. Every reply goes
 * through the oracle; a session must end in an orderly way.
 *
 * @module
 */

import type { SerializerName } from "../../src/serializer/serializer.ts";
import { action } from "./actions.ts";
import { signature } from "./auth.ts";
import { type Conn, openConn, RsConn } from "./conn.ts";
import { errText, hex, lit } from "./describe.ts";
import { count, type FuzzEnv, seedText } from "./env.ts";
import { mutate } from "./messages.ts";
import {
  abortProblems,
  malformed,
  mustBeAnswered,
  probe,
  PROBE_BASE,
  RequestLedger,
  routerProcedureFailed,
} from "./oracle.ts";
import { genHello } from "./options.ts";
import { failureText, type Sent } from "./report.ts";
import { Rng, subSeed } from "./rng.ts";
import { freshState } from "./state.ts";
import { rsFrame, utf8, type Wire } from "./wire.ts";

export class FuzzSession {
  readonly rng: Rng;
  readonly st = freshState();
  readonly sent: Sent[] = [];
  /** Both directions, for failure reports and FUZZ_TRACE. */
  readonly transcript: string[] = [];
  conn!: Conn;
  joined = false;
  over = false;
  clientAborted = false;
  sentGoodbye = false;
  challenge: unknown[] | null = null;
  authenticating = false;
  /** CALL request id → procedure, for CALLs whose RESULT or ERROR must come. */
  readonly awaited = new Map<number, string>();
  /** The last HELLO sent. */
  hello: unknown[] | null = null;
  helloWire: Wire | null = null;
  probes = 0;
  pings: Uint8Array[] = [];
  /** The requests sent, to check that replies answer them. */
  readonly ledger = new RequestLedger();
  readonly logStart: number;
  readonly transport: "ws" | "rs";
  readonly serializerName: SerializerName;
  readonly exponent: number;

  constructor(readonly env: FuzzEnv, readonly batch: number, readonly index: number) {
    this.rng = new Rng(subSeed(env.seed, batch, index));
    this.logStart = env.target.logs.seq;
    this.transport = this.rng.chance(0.35) ? "rs" : "ws";
    this.serializerName = this.rng.pick(["json", "msgpack", "cbor"] as const);
    this.exponent = this.transport === "rs" && this.rng.chance(0.1) ? this.rng.int(3) : 15;
  }

  get where(): string {
    const label = this.conn?.label ?? this.transport;
    const realm = lit(this.hello?.[1]);
    return `${seedText(this.env.seed)} batch=${this.batch} session=${this.index} ${label} ` +
      `realm=${realm} joined=${this.joined}`;
  }

  get pubkey(): string {
    return this.env.keys.publicHex;
  }

  get #waitMs(): number {
    return this.env.endpoint.waitMs;
  }

  fail(kind: string, detail: string, replay = false, culprit = this.sent.at(-1)): void {
    const log = this.env.target.logs.since(this.logStart);
    this.env.failures.push(failureText(kind, detail, this, culprit, log));
    if (replay && culprit) {
      this.env.replays.push({
        index: this.env.failures.length - 1,
        transport: this.transport,
        serializer: this.serializerName,
        exponent: this.exponent,
        hello: this.joined ? this.anonymousHello() : null,
        authHello: this.authenticating ? this.helloWire : null,
        culprit: culprit.wire,
      });
    }
  }

  /** The session's HELLO without authentication (for replays). */
  anonymousHello(): unknown[] {
    const realm = typeof this.hello?.[1] === "string" ? this.hello[1] : "realm1";
    return [1, realm, {
      roles: Object.keys(this.st.roles).length > 0 ? this.st.roles : { caller: {} },
    }];
  }

  record(what: string, wire: Wire | null): boolean {
    count(this.env, wire ? `sent${this.joined ? " joined" : ""}` : "unencodable");
    if (!wire) return false;
    this.sent.push({ what, wire });
    this.transcript.push(`>>> ${what}`);
    this.noteRequest(wire);
    return true;
  }

  noteRequest(wire: Wire): void {
    const type = this.ledger.note(wire, this.conn.serializer);
    if (type === 3) this.clientAborted = true;
    if (type === 6) this.sentGoodbye = true;
  }

  sendMsg(msg: unknown[], what = lit(msg)): boolean {
    const ok = this.record(what, this.conn.sendMsg(msg));
    const code = Array.isArray(msg) ? msg[0] : undefined;
    // only a CALL with a request id of its own (a reused one may continue or end a progressive
    // call invocation instead) must be answered
    const procedure = ok && code === 48 ? this.ledger.callProcedures.get(msg[1] as number) : null;
    if (
      this.joined && typeof procedure === "string" && mustBeAnswered(procedure, this.hello?.[1])
    ) {
      this.awaited.set(msg[1] as number, procedure);
    }
    return ok;
  }

  async run(): Promise<void> {
    try {
      this.conn = await openConn(
        this.env.endpoint,
        this.transport,
        this.serializerName,
        this.exponent,
      );
    } catch (e) {
      this.fail("connect", `could not connect: ${errText(e)}`);
      return;
    }
    if (this.conn instanceof RsConn) this.env.peers.set(this.conn.peer, this);
    try {
      await this.session();
    } catch (e) {
      this.fail("test error", errText(e) + (e instanceof Error ? `\n${e.stack}` : ""));
    } finally {
      await this.conn.close();
      const trace = this.env.trace;
      if (trace === "all" || trace === `${this.batch}:${this.index}`) {
        console.log(`--- ${this.where}\n  ${this.transcript.join("\n  ")}`);
      }
    }
  }

  async session(): Promise<void> {
    const rng = this.rng;
    if (rng.chance(0.25)) {
      const expectReply = action(this, "pre");
      if (expectReply) await this.settleUnjoined();
      if (this.challenge) await this.authenticate();
    }
    if (!this.over && !this.joined) {
      this.hello = genHello(rng, this.pubkey);
      if (!this.sendMsg(this.hello)) return;
      this.helloWire = this.sent.at(-1)!.wire;
      await this.settleUnjoined();
      if (this.challenge) await this.authenticate();
    }
    const steps = 4 + rng.int(40);
    if (this.hello && typeof this.hello[2] === "object" && this.hello[2] !== null) {
      const roles = (this.hello[2] as Record<string, unknown>).roles;
      if (typeof roles === "object" && roles !== null) {
        this.st.roles = roles as Record<string, unknown>;
      }
    }
    for (let i = 0; i < steps && this.joined && !this.over; i++) {
      // mostly input the router answers normally; a violation now and then and maybe at the end
      const hard = (i === steps - 1 && rng.chance(0.5)) || rng.chance(0.03);
      action(this, hard ? "hard" : "soft");
      if (!this.over) await this.settleJoined();
    }
    if (!this.over) await this.finish();
  }

  /** Checks a message from the router; returns false when it was reported as a failure. */
  check(m: unknown[]): boolean {
    count(this.env, `received type ${m[0]}${m[0] === 8 ? ` ${m[4]}` : ""}`);
    this.transcript.push(`<<< ${lit(m)}`);
    const problem = malformed(m);
    if (problem) {
      this.fail("malformed reply", `${problem}: ${lit(m)}`, true);
      return false;
    }
    const stray = this.ledger.stray(m);
    if (stray) {
      this.fail("reply to a request never sent", stray, true);
      return false;
    }
    switch (m[0]) {
      case 2:
        this.st.sessions.push(m[1] as number);
        break;
      case 33:
      case 65: {
        (m[0] === 33 ? this.st.subs : this.st.regs).push(m[2] as number);
        const u = this.st.pending.get(m[1] as number);
        if (u !== undefined) (m[0] === 33 ? this.st.ownTopics : this.st.ownProcedures).push(u);
        this.st.pending.delete(m[1] as number);
        break;
      }
      case 68:
        this.st.invocations.push(m[1] as number);
        break;
      case 50: {
        const details = m[2] as Record<string, unknown>;
        if (details.progress !== true) this.awaited.delete(m[1] as number);
        const args = m[3];
        if (Array.isArray(args)) {
          for (const a of args.flat()) {
            if (typeof a === "number" && a >= 1) this.st.sessions.push(a);
          }
        }
        break;
      }
      case 8: {
        if (m[1] === 48) this.awaited.delete(m[2] as number);
        const procedure = this.ledger.callProcedures.get(m[2] as number);
        if (routerProcedureFailed(m, procedure)) {
          this.fail(
            "runtime_error from a router procedure",
            `CALL ${procedure} failed inside the router: ${lit(m)}`,
          );
        }
        break;
      }
    }
    return true;
  }

  async onAbort(m: unknown[]): Promise<void> {
    this.over = true;
    count(
      this.env,
      `ABORT ${m[2]} ${String((m[1] as Record<string, unknown>)?.message).slice(0, 50)}`,
    );
    for (const [kind, detail] of abortProblems(m)) this.fail(kind, detail, true);
    const after = await this.conn.next();
    if (after.kind === "timeout") {
      this.fail("no close", `the router did not close after ABORT ${lit(m)}`);
    } else if (after.kind !== "closed") {
      this.fail(
        "message after ABORT",
        `the router sent ${after.kind === "msg" ? lit(after.msg) : lit(after)} after ${lit(m)}`,
      );
    }
  }

  /**
   * The reply loop before and after WELCOME: handles what the router sends until `handle` takes
   * a message as the end of the wait (returns true) or the session ends (false). Alike in both:
   * no reply within the wait is a hang (`hang` says which), a close must come after an ABORT
   * (the router's, the client's own, or a close for a frame over the size limit), an
   * undecodable reply is a failure, every message goes through the oracle, and ABORT ends the
   * session.
   */
  async #settle(hang: string, handle: (m: unknown[]) => boolean): Promise<boolean> {
    for (;;) {
      const i = await this.conn.next();
      if (i.kind === "timeout") {
        this.over = true;
        this.fail("hang", hang, true);
        return false;
      }
      if (i.kind === "closed") {
        this.over = true;
        if (!this.clientAborted && !this.conn.closedForSize()) {
          this.fail("close without ABORT", "the router closed silently", true);
        }
        return false;
      }
      if (i.kind === "bad") {
        this.fail("undecodable reply", `${i.error}: ${lit(i.raw)}`, true);
        continue;
      }
      const m = i.msg;
      if (!this.check(m)) continue;
      if (m[0] === 3) {
        await this.onAbort(m);
        return false;
      }
      if (handle(m)) return true;
    }
  }

  /** Waits for the answer to a message sent before WELCOME: WELCOME, CHALLENGE or ABORT. */
  async settleUnjoined(): Promise<void> {
    await this.#settle(`no reply within ${this.#waitMs} ms before WELCOME`, (m) => {
      if (m[0] === 2) {
        this.joined = true;
        return true;
      }
      if (m[0] === 4) {
        this.challenge = m;
        return true;
      }
      if (this.sentGoodbye) {
        this.fail("message after GOODBYE", `after its GOODBYE the router sent ${lit(m)}`, true);
      } else {
        this.fail("unexpected reply", `before WELCOME the router sent ${lit(m)}`, true);
      }
      return false;
    });
  }

  async authenticate(): Promise<void> {
    const challenge = this.challenge!;
    this.challenge = null;
    this.authenticating = true;
    const rng = this.rng;
    const good = await signature(challenge, this.env.keys);
    const msg: unknown[] = [5, rng.chance(0.75) ? good : rng.pick(["", "x", good + "0"]), {}];
    if (rng.chance(0.2)) mutate(rng, msg, this.st);
    if (!this.sendMsg(msg)) {
      this.over = true;
      return;
    }
    await this.settleUnjoined();
    this.authenticating = false;
    if (this.challenge) {
      this.fail("unexpected reply", "a second CHALLENGE", true);
      this.over = true;
    }
  }

  /** Sends a probe PUBLISH and handles everything up to its PUBLISHED. */
  async settleJoined(): Promise<void> {
    const request = PROBE_BASE + ++this.probes;
    const pingsBefore = this.pings.length;
    const probeWire = this.conn.sendMsg(probe(request));
    if (probeWire) this.noteRequest(probeWire);
    const hang = `no reply to a probe PUBLISH within ${this.#waitMs} ms`;
    const answered = await this.#settle(hang, (m) => {
      if (m[0] === 6) {
        if (this.sentGoodbye && m[2] === "wamp.close.goodbye_and_out") {
          // our GOODBYE was taken: the probe now arrives before HELLO and is answered with ABORT
          this.joined = false;
          return false;
        }
        // router-initiated (killed in realm2): complete the closing handshake and stop
        this.sendMsg([6, {}, "wamp.close.goodbye_and_out"]);
        this.joined = false;
        this.over = true;
        return true;
      }
      // PUBLISHED, or ERROR where realm2's authorizer denies the probe
      return (m[0] === 17 && m[1] === request) || (m[0] === 8 && m[1] === 16 && m[2] === request);
    });
    if (!answered || this.over) return; // the session ended, or the router closed it
    if (this.conn instanceof RsConn && pingsBefore > 0) {
      const expected = this.pings.map((p) => hex(p)).join("|");
      const got = this.conn.pongs.map((p) => hex(p)).join("|");
      if (expected !== got) this.fail("ping", `PONGs ${got} do not answer PINGs ${expected}`);
    }
  }

  /** Ends the session: GOODBYE (maybe rejoining once), client ABORT, or just closing. */
  async finish(): Promise<void> {
    const rng = this.rng;
    const r = rng.int(100);
    // every CALL that must be answered is answered before the session ends
    while (this.awaited.size > 0 && this.joined) {
      const i = await this.conn.next();
      if (i.kind === "timeout") {
        const calls = [...this.awaited].map(([id, p]) => `${id} (${p})`).join(", ");
        const call = this.sent.findLast((s) =>
          [...this.awaited.keys()].some((id) => s.what.startsWith(`[48, ${id}, `))
        );
        this.fail(
          "call never answered",
          `no RESULT or ERROR for CALL ${calls} within ${this.#waitMs} ms`,
          false,
          call,
        );
        break;
      }
      if (i.kind === "closed") return;
      if (i.kind === "msg" && this.check(i.msg) && i.msg[0] === 3) return await this.onAbort(i.msg);
    }
    if (r < 55 && this.joined) {
      this.sendMsg([6, { message: "bye" }, "wamp.close.normal"]);
      for (;;) {
        const i = await this.conn.next();
        if (i.kind === "timeout") return this.fail("hang", "no GOODBYE in reply to GOODBYE", true);
        if (i.kind === "closed") return this.fail("close without GOODBYE", "closed after GOODBYE");
        if (i.kind === "bad") continue;
        if (!this.check(i.msg)) continue;
        if (i.msg[0] === 3) return await this.onAbort(i.msg);
        if (i.msg[0] === 6) break;
      }
      this.joined = false;
      if (rng.chance(0.25) && this.helloWire) {
        this.conn.sendWire(this.helloWire);
        this.record("HELLO again after GOODBYE", this.helloWire);
        await this.settleUnjoined();
        if (this.joined) this.conn.sendMsg([6, {}, "wamp.close.normal"]);
      }
      return;
    }
    if (r < 70) {
      this.sendMsg([3, { message: "client abort" }, "wamp.close.normal"]);
      for (;;) {
        const i = await this.conn.next();
        if (i.kind === "timeout") return this.fail("hang", "no close after the client's ABORT");
        if (i.kind === "closed") return;
        if (i.kind === "msg" && i.msg[0] === 3) return await this.onAbort(i.msg);
      }
    }
    if (r < 85 && this.conn instanceof RsConn) {
      const f = rsFrame(0, utf8.encode('[16,1,{},"com.fuzz.cut",["' + "x".repeat(100) + '"]]'));
      this.record("RawSocket frame cut short, then close", this.conn.sendRaw(f.slice(0, 30)));
    }
  }
}
