/**
 * Table-driven conversion between wire arrays and typed messages. `decodeMessage` validates
 * the code, the arity and every field type once, at the edge; `encodeMessage` builds the
 * array and leaves out empty trailing payload elements.
 *
 * @module
 */

import { ProtocolError } from "./errors.ts";
import { messageName, MessageType as T } from "./message_type.ts";
import type { Message } from "./messages.ts";

type Kind = "uri" | "optrealm" | "id" | "id0" | "int" | "dict" | "string" | "optdict";

interface Shape {
  readonly fields: readonly (readonly [string, Kind])[];
  readonly payload: boolean;
}

const MAX_ID = 2 ** 53;

const SHAPES = new Map<number, Shape>([
  // the realm may be null: authentication assigns it (see router/session.ts)
  [T.HELLO, { fields: [["realm", "optrealm"], ["details", "dict"]], payload: false }],
  [T.WELCOME, { fields: [["session", "id"], ["details", "dict"]], payload: false }],
  [T.ABORT, { fields: [["details", "dict"], ["reason", "uri"]], payload: true }],
  [T.CHALLENGE, { fields: [["authmethod", "string"], ["extra", "dict"]], payload: false }],
  [T.AUTHENTICATE, { fields: [["signature", "string"], ["extra", "dict"]], payload: false }],
  [T.GOODBYE, { fields: [["details", "dict"], ["reason", "uri"]], payload: false }],
  [T.ERROR, {
    fields: [["requestType", "int"], ["request", "id"], ["details", "dict"], ["error", "uri"]],
    payload: true,
  }],
  [T.PUBLISH, {
    fields: [["request", "id"], ["options", "dict"], ["topic", "uri"]],
    payload: true,
  }],
  [T.PUBLISHED, { fields: [["request", "id"], ["publication", "id"]], payload: false }],
  [T.SUBSCRIBE, {
    fields: [["request", "id"], ["options", "dict"], ["topic", "string"]],
    payload: false,
  }],
  [T.SUBSCRIBED, { fields: [["request", "id"], ["subscription", "id"]], payload: false }],
  [T.UNSUBSCRIBE, { fields: [["request", "id"], ["subscription", "id"]], payload: false }],
  [T.UNSUBSCRIBED, { fields: [["request", "id0"], ["details", "optdict"]], payload: false }],
  [T.EVENT, {
    fields: [["subscription", "id"], ["publication", "id"], ["details", "dict"]],
    payload: true,
  }],
  [T.CALL, {
    fields: [["request", "id"], ["options", "dict"], ["procedure", "uri"]],
    payload: true,
  }],
  [T.CANCEL, { fields: [["request", "id"], ["options", "dict"]], payload: false }],
  [T.RESULT, { fields: [["request", "id"], ["details", "dict"]], payload: true }],
  [T.REGISTER, {
    fields: [["request", "id"], ["options", "dict"], ["procedure", "string"]],
    payload: false,
  }],
  [T.REGISTERED, { fields: [["request", "id"], ["registration", "id"]], payload: false }],
  [T.UNREGISTER, { fields: [["request", "id"], ["registration", "id"]], payload: false }],
  [T.UNREGISTERED, { fields: [["request", "id0"], ["details", "optdict"]], payload: false }],
  [T.INVOCATION, {
    fields: [["request", "id"], ["registration", "id"], ["details", "dict"]],
    payload: true,
  }],
  [T.INTERRUPT, { fields: [["request", "id"], ["options", "dict"]], payload: false }],
  [T.YIELD, { fields: [["request", "id"], ["options", "dict"]], payload: true }],
]);

/** True for a plain dictionary: an object that is not an array, bytes or null. */
export function isDict(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function checkField(kind: Kind, v: unknown): string | null {
  switch (kind) {
    case "uri":
    case "string":
      return typeof v === "string" ? null : "a string";
    case "optrealm":
      return typeof v === "string" || v === null ? null : "a string or null";
    case "id":
      return typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= MAX_ID
        ? null
        : "an id (integer 1..2^53)";
    case "id0":
      return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_ID
        ? null
        : "an id (integer 0..2^53)";
    case "int":
      return typeof v === "number" && Number.isInteger(v) && v >= 0 ? null : "an integer";
    case "dict":
    case "optdict":
      return isDict(v) ? null : "a dictionary";
  }
}

/**
 * Validates a decoded wire value and returns the typed message.
 * @throws {ProtocolError} when the value is not a well-formed WAMP message.
 */
export function decodeMessage(wire: unknown): Message {
  if (!Array.isArray(wire) || wire.length === 0) {
    throw new ProtocolError("a WAMP message must be a non-empty array");
  }
  const code = wire[0];
  const shape = typeof code === "number" ? SHAPES.get(code) : undefined;
  if (!shape) throw new ProtocolError(`unknown message type ${JSON.stringify(String(code))}`);
  const name = messageName(code as number);
  const fields = shape.fields;
  const last = fields[fields.length - 1]!;
  const required = last[1] === "optdict" ? fields.length - 1 : fields.length;
  const max = fields.length + (shape.payload ? 2 : 0);
  if (wire.length - 1 < required || wire.length - 1 > max) {
    throw new ProtocolError(
      `${name} must have ${
        required === max ? required : `${required} to ${max}`
      } elements after the type, got ${wire.length - 1}`,
    );
  }
  const msg: Record<string, unknown> = { type: code };
  for (let i = 0; i < fields.length; i++) {
    const [field, kind] = fields[i]!;
    const v = wire[i + 1];
    if (v === undefined && kind === "optdict") continue;
    const expected = checkField(kind, v);
    if (expected) throw new ProtocolError(`${name}.${field} must be ${expected}`);
    msg[field] = v;
  }
  if (shape.payload) {
    const args = wire[fields.length + 1];
    const kwargs = wire[fields.length + 2];
    if (args !== undefined) {
      if (!Array.isArray(args)) throw new ProtocolError(`${name}.Arguments must be a list`);
      msg.args = args;
    }
    if (kwargs !== undefined) {
      if (!isDict(kwargs)) throw new ProtocolError(`${name}.ArgumentsKw must be a dictionary`);
      msg.kwargs = kwargs;
    }
  }
  return msg as unknown as Message;
}

function hasKeys(o: Record<string, unknown>): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return true;
  return false;
}

/** Builds the wire array of a message, leaving out empty trailing payload elements. */
export function encodeMessage(msg: Message): unknown[] {
  const shape = SHAPES.get(msg.type)!;
  const m = msg as unknown as Record<string, unknown>;
  const out: unknown[] = [msg.type];
  for (const [field, kind] of shape.fields) {
    const v = m[field];
    if (kind === "optdict" && v === undefined) break;
    out.push(v);
  }
  if (shape.payload) {
    const args = m.args as unknown[] | undefined;
    const kwargs = m.kwargs as Record<string, unknown> | undefined;
    if (kwargs !== undefined && hasKeys(kwargs)) {
      out.push(args ?? [], kwargs);
    } else if (args !== undefined && args.length > 0) {
      out.push(args);
    }
  }
  return out;
}
