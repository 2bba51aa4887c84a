/**
 * Runs tests/interop/auth_client.py (Autobahn|Python, asyncio, one authenticated join) as a
 * child process with a hard timeout and returns the JSON line it prints.
 *
 * @module
 */

import assert from "node:assert/strict";
import { findPython } from "./python.ts";

const SCRIPT = new URL("./auth_client.py", import.meta.url).pathname;

/** A Python with autobahn and nacl (cryptosign needs it), or a failed assertion saying why. */
export async function python(): Promise<string> {
  const { python, tried } = await findPython();
  assert.ok(
    python,
    `no Python with autobahn, msgpack and cbor2 (apt-get install python3-autobahn ` +
      `python3-msgpack python3-cbor2, or set SWITCHBOARD_PYTHON): ${tried.join("; ")}`,
  );
  const out = await new Deno.Command(python, {
    args: ["-c", "import nacl; from autobahn.wamp.cryptosign import CryptosignKey"],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(
    out.success,
    `${python} cannot do cryptosign (apt-get install python3-nacl): ` +
      new TextDecoder().decode(out.stderr).trim().split("\n").at(-1),
  );
  return python;
}

/** Runs auth_client.py (killed after 20 s) with `args` and returns its JSON line. */
export async function runPython(
  py: string,
  url: string,
  ser: "json" | "msgpack",
  args: string[],
): Promise<Record<string, unknown>> {
  const child = new Deno.Command(py, {
    args: [SCRIPT, "--url", url, "--serializer", ser, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { PYTHONDONTWRITEBYTECODE: "1" },
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch (e) {
      // it exited meanwhile (Deno throws a TypeError); anything else is a real problem
      if (!(e instanceof TypeError)) throw e;
    }
  }, 20_000);
  try {
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout).trim();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    const last = stdout.split("\n").at(-1) ?? "";
    if (out.code !== 0 || !last.startsWith("{")) {
      throw new Error(
        `auth_client.py ${args.join(" ")}: exit ${out.code}${timedOut ? " (killed)" : ""}; ` +
          `stdout ${JSON.stringify(stdout)}; stderr: ${stderr || "(empty)"}`,
      );
    }
    return JSON.parse(last) as Record<string, unknown>;
  } finally {
    clearTimeout(timer);
  }
}
