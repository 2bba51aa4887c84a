/**
 * `src/http/origin.ts`: allowed-origin patterns and the same-origin rule, as pure functions.
 */

import assert from "node:assert/strict";
import { checkOrigin, originPolicy, parseOriginPattern } from "../src/http/origin.ts";

Deno.test("origin: without a list only same-origin requests (Origin host:port = Host) pass", () => {
  const p = originPolicy(null, false);
  assert.equal(checkOrigin(p, null, "example.com"), "none");
  assert.equal(checkOrigin(p, "https://example.com", "example.com"), "same");
  assert.equal(checkOrigin(p, "https://example.com", "example.com:443"), "same");
  assert.equal(checkOrigin(p, "http://example.com", "Example.COM:80"), "same");
  assert.equal(checkOrigin(p, "http://example.com:8080", "example.com:8080"), "same");
  assert.equal(checkOrigin(p, "http://[::1]:8080", "[::1]:8080"), "same");
  assert.equal(checkOrigin(p, "http://example.com:8080", "example.com"), "denied");
  assert.equal(checkOrigin(p, "http://example.com", "example.com:8080"), "denied");
  assert.equal(checkOrigin(p, "https://example.com", "example.com:80"), "denied");
  assert.equal(checkOrigin(p, "http://evil.example", "example.com"), "denied");
  assert.equal(checkOrigin(p, "http://example.com", null), "denied");
  assert.equal(checkOrigin(p, "http://example.com", "example.com/x"), "denied");
  assert.equal(checkOrigin(p, "null", "example.com"), "denied");
  assert.equal(checkOrigin(originPolicy(null, true), "null", "example.com"), "cross");
  for (
    const junk of ["", "example.com", "http://example.com/", "http://a b", "http://ex\nample.com"]
  ) {
    assert.equal(checkOrigin(p, junk, "example.com"), "denied", JSON.stringify(junk));
  }
});

Deno.test("origin: allowed lists match scheme, host (with *) and port", () => {
  const p = originPolicy(
    [
      "https://app.example.com",
      "https://*.example.org",
      "http://localhost:3000",
      "HTTP://UP.example",
    ],
    false,
  );
  const host = "router.internal:8080";
  const cross = [
    "https://app.example.com",
    "https://app.example.com:443",
    "https://a.example.org",
    "https://a.b.example.org",
    "http://localhost:3000",
    "http://up.example",
  ];
  for (const o of cross) assert.equal(checkOrigin(p, o, host), "cross", o);
  const denied = [
    "http://app.example.com",
    "https://app.example.com:8443",
    "https://app.example.com.evil.example",
    "https://evilapp.example.com",
    "https://example.org",
    "https://a.example.org:444",
    "https://a.example.org.evil",
    "http://localhost",
    "http://localhost:3001",
    "null",
    "http://router.internal:8080", // same-origin is not implied by a list
  ];
  for (const o of denied) assert.equal(checkOrigin(p, o, host), "denied", o);
  const any = originPolicy(["*"], false);
  assert.equal(checkOrigin(any, "chrome-extension://abcdef", host), "cross");
  assert.equal(checkOrigin(any, "null", host), "denied");
  assert.equal(checkOrigin(originPolicy(["*"], true), "null", host), "cross");
  assert.equal(checkOrigin(originPolicy([], false), "https://app.example.com", host), "denied");
  assert.equal(checkOrigin(originPolicy([], false), null, host), "none");
});

Deno.test("origin: pattern syntax", () => {
  for (
    const ok of [
      "*",
      "https://a.example",
      "http://*.a.example:8080",
      "wss://x",
      "http://[::1]:1",
      "http://localhost:*",
    ]
  ) {
    assert.notEqual(typeof parseOriginPattern(ok), "string", ok);
  }
  // `:*` is any port; `file://` origins count as `null` (as in Autobahn)
  const anyPort = originPolicy(["http://localhost:*"], false);
  assert.equal(checkOrigin(anyPort, "http://localhost:5173", null), "cross");
  assert.equal(checkOrigin(anyPort, "http://localhost", null), "cross");
  assert.equal(checkOrigin(anyPort, "https://localhost:5173", null), "denied");
  assert.equal(checkOrigin(originPolicy(["*"], false), "file://", null), "denied");
  assert.equal(checkOrigin(originPolicy(["*"], true), "file://", null), "cross");
  for (
    const bad of [
      "",
      "**",
      "a.example",
      "https://",
      "https://a.example/",
      "https://a:70000",
      "https://a:**",
      "https://a:*1",
      "*://a",
      "http://[::*]",
    ]
  ) {
    assert.equal(typeof parseOriginPattern(bad), "string", bad);
  }
  assert.throws(() => originPolicy(["nope"], false), TypeError);
});
