/**
 * The single-file build, `deno task bundle` (`deno bundle --platform deno`), which works
 * offline: built here into a temporary directory exactly as the task builds it, then run from
 * that directory (no deno.json, no lockfile, no node_modules around it) with `deno run` and the
 * start task's permissions only. Its run-time imports are Node built-ins only, every module of
 * main.ts's graph that is imported dynamically is inside it, a real client (AutobahnJS) joins
 * and calls over each serializer, the status page serves the embedded client script, and
 * SIGTERM stops it cleanly.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import denoJson from "../deno.json" with { type: "json" };
import { STATUS_CLIENT_JS } from "../src/status/client_bundle.generated.ts";
import { Child, CLI_PERMISSIONS } from "./_process.ts";
import { AutobahnClient, deadline, SERIALIZERS } from "./interop/common.ts";

const ROOT = new URL("..", import.meta.url);
const TASK = denoJson.tasks.bundle;
const OUTPUT = "dist/switchboard.js";

/** Builds the bundle as the task does, but into `file`; returns deno bundle's stderr. */
async function bundleInto(file: string): Promise<string> {
  const words = TASK.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "bundle"]);
  const args = words.slice(1).map((w) => w === OUTPUT ? file : w);
  assert.ok(args.includes(file), `the task writes ${OUTPUT}`);
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT.pathname,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  return stderr;
}

/**
 * The module specifiers the bundle still imports or requires at run time, in the shapes
 * esbuild writes them (`import ... from "x"`, `import("x")`, `__require("x")`); a dynamic import
 * of anything but a string literal is reported as `<computed>`.
 */
function externalSpecifiers(code: string): Set<string> {
  const found = new Set<string>();
  for (const m of code.matchAll(/^import\b[^;\n]*?\bfrom\s*"([^"]+)"/gm)) found.add(m[1]!);
  for (const m of code.matchAll(/\bimport\(\s*(?:"([^"]+)"|'([^']+)'|([^)\s]))/g)) {
    found.add(m[1] ?? m[2] ?? "<computed>");
  }
  for (const m of code.matchAll(/\b__require\(\s*"([^"]+)"/g)) found.add(m[1]!);
  return found;
}

/**
 * The repository's modules that main.ts's module graph loads by a dynamic import with a literal
 * specifier (`await import("./mod.ts")`, and any module the router loads only when a config asks
 * for it), as paths relative to the repository root.
 */
async function dynamicallyImported(): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--lock=dev.lock", "--frozen", "main.ts"],
    cwd: ROOT.pathname,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string }[];
  };
  const local = new Set(
    graph.modules.map((m) => m.specifier).filter((s) => s.startsWith(ROOT.href)),
  );
  const found = new Set<string>();
  for (const specifier of local) {
    const text = await Deno.readTextFile(new URL(specifier));
    for (const m of text.matchAll(/\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g)) {
      const target = new URL(m[1]!, specifier).href;
      if (local.has(target)) found.add(target.slice(ROOT.href.length));
    }
  }
  return [...found].sort();
}

Deno.test("bundle: the task bundles main.ts for Deno into dist/switchboard.js", () => {
  assert.equal(TASK, `deno bundle --platform deno -o ${OUTPUT} main.ts`);
});

Deno.test("bundle: one self-contained file that serves WAMP and the status page", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "switchboard-bundle-" });
  try {
    const file = `${dir}/switchboard.js`;
    await bundleInto(file);
    const code = await Deno.readTextFile(file);

    await t.step("it imports nothing but Node built-ins and ws's optional add-ons", () => {
      const outside = [...externalSpecifiers(code)].filter((s) =>
        !s.startsWith("node:") &&
        // ws require()s these inside try/catch and runs without them (WS_NO_* in the task)
        s !== "bufferutil" && s !== "utf-8-validate"
      );
      assert.deepEqual(outside, []);
    });

    await t.step("the modules the router loads by dynamic import are inside it", async () => {
      const dynamic = await dynamicallyImported();
      assert.ok(dynamic.includes("mod.ts"), `main.ts imports mod.ts dynamically: ${dynamic}`);
      // esbuild heads each bundled module with a comment naming its path
      const missing = dynamic.filter((path) => !code.includes(`\n// ${path}\n`));
      assert.deepEqual(missing, [], "dynamically imported modules left out of the bundle");
    });

    await t.step("it runs with deno run and the start task's permissions", async () => {
      await using router = new Child(
        new Deno.Command(Deno.execPath(), {
          args: ["run", ...CLI_PERMISSIONS, file, "--port", "0"],
          cwd: dir,
          env: { NO_COLOR: "1" },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }),
      );
      const line = await router.stdoutLine(/listening on/);
      assert.match(line, new RegExp(`^Switchboard ${denoJson.version.replaceAll(".", "\\.")} `));
      assert.match(line, /serializers: json, msgpack, cbor\)$/);
      const url = line.match(/listening on (\S+)/)![1]!;
      const port = new URL(url).port;

      for (const serializer of SERIALIZERS) {
        await using callee = await AutobahnClient.join(url, serializer);
        await using caller = await AutobahnClient.join(url, serializer);
        const procedure = `com.example.greet.${serializer}`;
        await callee.session.register(procedure, (args) => {
          const [name, n] = args as [string, number];
          return `${name.toUpperCase()} x${n + 1}`;
        });
        const reply = await deadline(
          caller.session.call(procedure, ["héllo ✓", 41]),
          5000,
          `${serializer} call`,
        );
        assert.equal(reply, "HÉLLO ✓ x42", serializer);
        callee.assertHealthy(serializer);
        caller.assertHealthy(serializer);
      }

      // the status page's browser client is inside the bundle, byte for byte, and the page's
      // CSP allows exactly that script
      const res = await fetch(`http://127.0.0.1:${port}/status`);
      const html = await res.text();
      assert.equal(res.status, 200);
      assert.ok(html.includes(`<script>${STATUS_CLIENT_JS}</script>`), "the client script");
      const hash = createHash("sha256").update(STATUS_CLIENT_JS).digest("base64");
      assert.ok(
        res.headers.get("content-security-policy")?.includes(`'sha256-${hash}'`),
        "the CSP hash of the client script",
      );

      router.process.kill("SIGTERM");
      const status = await router.status();
      assert.equal(status.code, 0, router.stderr);
      assert.match(router.stderr, /SIGTERM received/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
