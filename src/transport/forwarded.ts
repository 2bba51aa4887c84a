/**
 * The client behind a reverse proxy: `Forwarded` (RFC 7239) and `X-Forwarded-For` are trusted
 * only from configured proxy addresses, so no client can choose the address that the auth
 * failure limit and the session meta API see. Pure functions.
 *
 * Rule: when the connection comes from a trusted proxy, the hops the headers list are walked
 * from the nearest (rightmost) to the farthest; the first hop that is not itself a trusted
 * proxy is the client. A hop that is not an IP address (`unknown`, an obfuscated name, junk)
 * ends the walk at the last address known. Connections from anywhere else: the headers are
 * ignored.
 *
 * @module
 */

import { type IpRange, parseIpAddress, parseIpRange } from "../net/ip_range.ts";

/** A parsed `trusted_proxies` list: addresses and CIDR ranges. */
export class TrustedProxies {
  readonly #ranges: IpRange[];

  /**
   * @param entries addresses (`10.0.0.1`, `::1`) and ranges (`10.0.0.0/8`, `fd00::/8`)
   * @throws {RangeError} naming the first entry that is neither
   */
  constructor(entries: readonly string[]) {
    this.#ranges = entries.map((entry) => {
      const range = parseIpRange(entry);
      if (!range) throw new RangeError(`not an IP address or CIDR range: ${JSON.stringify(entry)}`);
      return range;
    });
  }

  /** True when no proxy is trusted. */
  get empty(): boolean {
    return this.#ranges.length === 0;
  }

  /** True when `address` (a canonical IP string) is one of the trusted proxies. */
  trusts(address: string): boolean {
    const ip = parseIpAddress(address);
    if (!ip) return false;
    return this.#ranges.some(([net, bits]) => ip.kind() === net.kind() && ip.match(net, bits));
  }
}

/** One hop of a forwarding header as a canonical IP string, or null when it is none. */
function hopAddress(raw: string): string | null {
  let v = raw.trim();
  if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
  if (v.startsWith("[")) {
    const end = v.indexOf("]");
    if (end < 0) return null;
    v = v.slice(1, end);
  } else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(v)) {
    v = v.slice(0, v.lastIndexOf(":"));
  }
  const ip = parseIpAddress(v);
  return ip ? ip.toString() : null;
}

/** The hops of a `Forwarded` header (its `for=` parameters), farthest first. */
function forwardedHops(header: string): string[] {
  const hops: string[] = [];
  for (const element of header.split(",")) {
    for (const pair of element.split(";")) {
      const eq = pair.indexOf("=");
      if (eq < 0) continue;
      if (pair.slice(0, eq).trim().toLowerCase() === "for") hops.push(pair.slice(eq + 1));
    }
  }
  return hops;
}

/**
 * The client address of a request that arrived from `remote` (a canonical IP string) with
 * these headers: `remote` itself unless it is a trusted proxy (see the module doc).
 */
export function clientAddress(
  remote: string,
  header: (name: string) => string | null | undefined,
  trusted: TrustedProxies,
): string {
  if (trusted.empty || !trusted.trusts(remote)) return remote;
  const forwarded = header("forwarded");
  const xff = header("x-forwarded-for");
  const hops = forwarded ? forwardedHops(forwarded) : xff ? xff.split(",") : [];
  let client = remote;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress(hops[i]!);
    if (hop === null) break;
    client = hop;
    if (!trusted.trusts(hop)) break;
  }
  return client;
}
