/**
 * WAMP message type codes and names.
 *
 * @module
 */

/** The message codes of the Basic and Advanced Profiles. */
export const MessageType = {
  HELLO: 1,
  WELCOME: 2,
  ABORT: 3,
  CHALLENGE: 4,
  AUTHENTICATE: 5,
  GOODBYE: 6,
  ERROR: 8,
  PUBLISH: 16,
  PUBLISHED: 17,
  SUBSCRIBE: 32,
  SUBSCRIBED: 33,
  UNSUBSCRIBE: 34,
  UNSUBSCRIBED: 35,
  EVENT: 36,
  CALL: 48,
  CANCEL: 49,
  RESULT: 50,
  REGISTER: 64,
  REGISTERED: 65,
  UNREGISTER: 66,
  UNREGISTERED: 67,
  INVOCATION: 68,
  INTERRUPT: 69,
  YIELD: 70,
} as const;

/** A message code. */
export type MessageCode = typeof MessageType[keyof typeof MessageType];

const NAMES = new Map<number, string>(
  Object.entries(MessageType).map(([name, code]) => [code, name]),
);

/** The name of a message code (`PUBLISH`), or `type <n>` for unknown codes. */
export function messageName(code: number): string {
  return NAMES.get(code) ?? `type ${code}`;
}
