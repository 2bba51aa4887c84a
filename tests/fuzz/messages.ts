/**
 * Whole fuzzed messages: a valid-looking template of each type, structural mutations, and the
 * choice of message by mode (before WELCOME, soft while joined, hard protocol violations).
 *
 * @module
 */

import {
  callOptions,
  genHello,
  maybe,
  metaArgs,
  metaKwargs,
  payload,
  pptOptions,
  publishOptions,
  registerOptions,
  subscribeOptions,
  unknownOptions,
} from "./options.ts";
import type { Rng } from "./rng.ts";
import { BYSTANDER_PROC, TICKET } from "./scenario.ts";
import { type FuzzState, knownId, poolId, requestId, targetUri } from "./state.ts";
import { EDGE_VALUES, META_PROCEDURES, uri, value, weirdId } from "./values.ts";

export const CLIENT_TYPES: readonly (readonly [number, number])[] = [
  [14, 16],
  [12, 32],
  [6, 34],
  [14, 48],
  [5, 49],
  [10, 64],
  [5, 66],
  [7, 70],
  [6, 8],
  [2, 6],
  [1, 3],
  [1, 1],
  [1, 5],
];
const ROUTER_TYPES = [2, 4, 17, 33, 35, 36, 50, 65, 67, 68, 69];
const JUNK_TYPES: unknown[] = [0, 7, 9, 99, 255, -1, 1.5, "16", null, 2 ** 53, 2n ** 64n, true];

/** A valid-looking message of type `code` for an established session. */
export function template(rng: Rng, code: unknown, st: FuzzState, pubkey: string): unknown[] {
  const id = () => knownId(rng, []);
  switch (code) {
    case 1:
      return genHello(rng, pubkey);
    case 2:
      return [2, id(), {}];
    case 3:
      return [3, { message: "fuzz" }, rng.pick(["wamp.close.normal", "wamp.error.x", 5])];
    case 4:
      return [4, "ticket", {}];
    case 5:
      return [5, rng.pick([TICKET, "", "x".repeat(1000)]), {}];
    case 6:
      return [6, {}, rng.pick(["wamp.close.normal", "wamp.close.system_shutdown", "x"])];
    case 8:
      return [
        8,
        st.soft || rng.chance(0.85) ? 68 : rng.pick([16, 32, 48, 0, -1, 1.5, 99]),
        st.soft ? poolId(rng, st.invocations) : knownId(rng, st.invocations),
        rng.chance(0.8) ? {} : (() => {
          const d: Record<string, unknown> = {};
          pptOptions(rng, d);
          return d;
        })(),
        rng.chance(0.7) ? rng.pick(["com.fuzz.error", "wamp.error.runtime_error", "x"]) : uri(rng),
        ...payload(rng),
      ];
    case 16:
      return [
        16,
        requestId(rng, st),
        publishOptions(rng, st),
        targetUri(rng, st.ownTopics),
        ...payload(rng),
      ];
    case 32: {
      const request = requestId(rng, st);
      const topic = uri(rng);
      if (typeof request === "number") st.pending.set(request, topic);
      return [32, request, subscribeOptions(rng), topic];
    }
    case 34:
      return [34, requestId(rng, st), knownId(rng, st.subs, st.soft)];
    case 48: {
      const continued = rng.chance(st.soft ? 0.03 : 0.15);
      const request = continued ? knownId(rng, st.calls, st.soft) : requestId(rng, st);
      const procedure = rng.chance(0.2)
        ? rng.pick(META_PROCEDURES)
        : rng.chance(0.3)
        ? rng.pick([BYSTANDER_PROC, "com.bystander.pfx.a", "com.bystander.x.wild"])
        : targetUri(rng, st.ownProcedures);
      if (typeof request === "number") st.calls.push(request);
      const rest = procedure.startsWith("wamp.") || procedure.startsWith("switchboard.")
        ? [metaArgs(rng, st), ...(rng.chance(0.4) ? [metaKwargs(rng)] : [])]
        : procedure.startsWith("com.bystander.") && rng.chance(0.3)
        ? [[rng.pick(EDGE_VALUES)()]]
        : payload(rng);
      return [48, request, callOptions(rng), procedure, ...rest];
    }
    case 49: {
      const d: Record<string, unknown> = {};
      maybe(rng, d, "mode", ["skip", "kill", "killnowait", "bogus", 1]);
      unknownOptions(rng, d);
      return [49, knownId(rng, st.calls, st.soft), d];
    }
    case 64: {
      const request = requestId(rng, st);
      const procedure = uri(rng);
      if (typeof request === "number") st.pending.set(request, procedure);
      return [64, request, registerOptions(rng), procedure];
    }
    case 66:
      return [66, requestId(rng, st), knownId(rng, st.regs, st.soft)];
    case 70: {
      const d: Record<string, unknown> = {};
      maybe(rng, d, "progress", [true, false, 1]);
      pptOptions(rng, d);
      unknownOptions(rng, d);
      return [
        70,
        st.soft ? poolId(rng, st.invocations) : knownId(rng, st.invocations),
        d,
        ...payload(rng),
      ];
    }
    case 17:
    case 33:
    case 65:
      return [code, id(), id()];
    case 35:
    case 67:
      return [code, rng.pick([0, 1]), ...(rng.chance(0.5) ? [{ reason: "x" }] : [])];
    case 36:
      return [36, id(), id(), {}, ...payload(rng)];
    case 50:
      return [50, id(), {}, ...payload(rng)];
    case 68:
      return [68, id(), id(), {}, ...payload(rng)];
    case 69:
      return [69, id(), {}];
    default:
      return [code, ...Array.from({ length: rng.int(4) }, () => value(rng, 1))];
  }
}

/** Applies 0..3 structural mutations to a message (in place) and returns it. */
export function mutate(rng: Rng, m: unknown[], st: FuzzState): unknown[] {
  const count = rng.weighted<number>([[50, 0], [32, 1], [12, 2], [6, 3]]);
  for (let i = 0; i < count; i++) {
    const at = 1 + rng.int(Math.max(1, m.length - 1));
    rng.weighted<() => void>([
      [5, () => m[at] = value(rng, 1)],
      [3, () => m[at] = weirdId(rng)],
      [2, () => m.pop()],
      [2, () => m.splice(at, 1)],
      [2, () => m.push(...Array.from({ length: 1 + rng.int(3) }, () => value(rng, 1)))],
      [1, () => m[0] = rng.chance(0.5) ? rng.pick(JUNK_TYPES) : rng.pick(ROUTER_TYPES)],
      [2, () => m[at] = rng.pick([[], "x", null, 1, {}, [{}]])],
      [2, () => m[at] = uri(rng)],
      [1, () => m[at] = knownId(rng, [...st.subs, ...st.regs, ...st.invocations])],
      [1, () => m.length = 1],
    ])();
  }
  return m;
}

/** Client messages that an established session may send (ids and shapes kept in soft mode). */
const SOFT_TYPES: readonly (readonly [number, number])[] = [
  [16, 16],
  [12, 32],
  [5, 34],
  [16, 48],
  [4, 49],
  [10, 64],
  [4, 66],
  [8, 70],
  [5, 8],
];

function announced(st: FuzzState, role: string, feature: string): boolean {
  const r = st.roles[role] as { features?: Record<string, unknown> } | undefined;
  return r?.features?.[feature] === true;
}

/** Drops the options that need a feature the session did not announce (protocol violations). */
function softFix(m: unknown[], st: FuzzState): unknown[] {
  const role = m[0] === 16 ? "publisher" : m[0] === 48 ? "caller" : m[0] === 70 ? "callee" : null;
  const options = m[2];
  if (role === null || typeof options !== "object" || options === null) return m;
  const o = options as Record<string, unknown>;
  if (!announced(st, role, "payload_passthru_mode")) delete o.ppt_scheme;
  if (m[0] === 48 && !announced(st, "caller", "progressive_call_invocations")) delete o.progress;
  return m;
}

export type Mode = "pre" | "soft" | "hard";

export function structuredMessage(rng: Rng, st: FuzzState, mode: Mode, pubkey: string): unknown[] {
  if (mode === "pre" && rng.chance(0.5)) {
    return mutate(rng, genHello(rng, pubkey), st);
  }
  if (mode === "soft") {
    st.soft = true;
    let code = rng.weighted(SOFT_TYPES);
    // answers need an invocation to answer, else they are protocol violations
    if ((code === 70 || code === 8) && st.invocations.length === 0) code = 48;
    const m = softFix(template(rng, code, st, pubkey), st);
    st.soft = false;
    return m;
  }
  const r = rng.int(100);
  const code = r < 86
    ? rng.weighted(CLIENT_TYPES)
    : r < 94
    ? rng.pick(ROUTER_TYPES)
    : rng.pick(JUNK_TYPES);
  return mutate(rng, template(rng, code, st, pubkey), st);
}
