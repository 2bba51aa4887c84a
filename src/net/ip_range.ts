/**
 * IP addresses and CIDR ranges as `trusted_proxies` lists them: strict four-part IPv4 or IPv6
 * addresses, and ranges `address/bits`. Pure functions, no I/O; shared by the config validator
 * (which only asks whether an entry is valid) and the forwarding-header logic (which matches
 * addresses against the ranges).
 *
 * @module
 */

import ipaddr from "ipaddr.js";

/** A parsed address (IPv4-mapped IPv6 addresses are IPv4). */
export type IpAddress = ReturnType<typeof ipaddr.parse>;

/** A parsed range: the network address and its prefix length in bits. */
export type IpRange = [IpAddress, number];

/** True when `text` is a four-part IPv4 address or an IPv6 address. */
function isStrictIp(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text) || ipaddr.IPv6.isValid(text);
}

/** An address as an `ipaddr` value (IPv4-mapped IPv6 becomes IPv4), or null when it is none. */
export function parseIpAddress(text: string): IpAddress | null {
  if (!isStrictIp(text)) return null;
  return ipaddr.process(text);
}

/**
 * An address (`10.0.0.1`, `::1`: a range of one) or a CIDR range (`10.0.0.0/8`, `fd00::/8`),
 * or null when `entry` is neither.
 */
export function parseIpRange(entry: string): IpRange | null {
  if (!entry.includes("/")) {
    const ip = parseIpAddress(entry);
    return ip ? [ip, ip.kind() === "ipv4" ? 32 : 128] : null;
  }
  const [addr = "", bits = ""] = entry.split("/");
  if (!/^\d{1,3}$/.test(bits) || !isStrictIp(addr) || !ipaddr.isValidCIDR(entry)) return null;
  return ipaddr.parseCIDR(entry);
}
