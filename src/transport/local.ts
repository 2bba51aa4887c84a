/**
 * An in-process link between a client and a router session: messages pass as objects, with no
 * serializer and no socket. Used for embedded clients and the router's own service sessions.
 *
 * @module
 */

import type { Message } from "../wamp/messages.ts";
import type { Peer, PeerHandler, TransportDetails } from "./peer.ts";

/** The client end of a message link, as {@linkcode WampClient} runs over it. */
export interface ClientLink {
  /** Sends a message to the router. */
  send(message: Message): void;
  /** Closes the link (the router sees a transport loss). */
  close(): void;
  /** Sets who receives the router's messages and the link's end (the client, once). */
  attach(handler: ClientLinkHandler): void;
}

/** What the client end of a link receives. */
export interface ClientLinkHandler {
  /** A message from the router. */
  receive(message: Message): void;
  /** The link is gone. */
  closed(): void;
}

/**
 * Creates a linked pair: `peer` goes to the router's session (`connect` it), `link` to the
 * client.
 * Delivery is synchronous in both directions; the client decides when to run user code.
 */
export function linkedPeers(): {
  peer: Peer;
  link: ClientLink;
  connect(router: PeerHandler): void;
} {
  let router: PeerHandler | null = null;
  let client: ClientLinkHandler | null = null;
  let open = true;
  const shut = () => {
    if (!open) return;
    open = false;
    router?.transportClosed();
    client?.closed();
  };
  const details: TransportDetails = {
    type: "local",
    peer: "local",
    channel_type: "function",
    channel_framing: "native",
    is_secure: true,
  };
  const peer: Peer = {
    serializer: null,
    details,
    bufferedAmount: 0,
    send(message) {
      if (!open || !client) return -1;
      client.receive(message);
      return 0;
    },
    close: shut,
  };
  const link: ClientLink = {
    send(message) {
      if (open && router) router.receive(message, 0);
    },
    close: shut,
    attach(c) {
      client = c;
    },
  };
  return {
    peer,
    link,
    connect(r) {
      router = r;
    },
  };
}
