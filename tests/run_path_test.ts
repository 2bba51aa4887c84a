/**
 * The router's run path stays lean: `deno task start` on a fresh machine fetches what the router
 * runs and nothing the tests use, and prints no warning about ignored build scripts.
 *
 * `deno task` installs every package of deno.json's `"imports"` and of `deno.lock` before it
 * runs a task, so both must hold only the router's own dependencies. Test-only packages are
 * imported by `npm:` specifier (tests/_npm.ts) and pinned in `dev.lock`, which the test, check
 * and bench tasks use. Everything here is read from the files themselves (and from
 * `deno info main.ts`), so a test client that reaches the run path fails here.
 *
 * @module
 */

import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };

const ROOT = new URL("..", import.meta.url);

interface LockPackage {
  dependencies?: string[];
  optionalDependencies?: string[];
  scripts?: boolean;
}

interface Lock {
  specifiers?: Record<string, string>;
  npm?: Record<string, LockPackage>;
}

async function readLock(name: string): Promise<Lock> {
  return JSON.parse(await Deno.readTextFile(new URL(name, ROOT))) as Lock;
}

/** `name@version` → `name` (scoped names keep their leading `@`). */
function nameOf(id: string): string {
  return id.slice(0, id.lastIndexOf("@"));
}

/** The package id a lockfile dependency entry (`name` or `name@version`) points at. */
function resolveDep(lock: Lock, dep: string): string {
  const packages = Object.keys(lock.npm ?? {});
  if (dep.lastIndexOf("@") > 0) return dep;
  const matches = packages.filter((id) => nameOf(id) === dep);
  assert.equal(matches.length, 1, `lockfile dependency ${dep}: ${matches.length} candidates`);
  return matches[0]!;
}

/** The package ids `specifiers` resolve to in `lock`, with all their (optional) dependencies. */
function closure(lock: Lock, specifiers: Iterable<string>): Set<string> {
  const out = new Set<string>();
  const todo: string[] = [];
  for (const spec of specifiers) {
    const version = lock.specifiers?.[spec];
    assert.ok(version, `${spec} is not in the lockfile's specifiers`);
    const bare = spec.slice("npm:".length);
    todo.push(`${bare.slice(0, bare.lastIndexOf("@"))}@${version}`);
  }
  while (todo.length > 0) {
    const id = todo.pop()!;
    if (out.has(id)) continue;
    const pkg = lock.npm?.[id];
    assert.ok(pkg, `${id} is not in the lockfile's packages`);
    out.add(id);
    for (const dep of [...(pkg.dependencies ?? []), ...(pkg.optionalDependencies ?? [])]) {
      todo.push(resolveDep(lock, dep));
    }
  }
  return out;
}

/** deno.json's `"imports"` that are npm packages, as lockfile specifiers (`npm:name@range`). */
function importMapSpecifiers(): Set<string> {
  return new Set(
    Object.values(denoJson.imports as Record<string, string>)
      .filter((target) => target.startsWith("npm:"))
      // "npm:/@noble/hashes@^2.4.0/" (a directory mapping) is the specifier npm:@noble/hashes@^2.4.0
      .map((target) => "npm:" + target.slice(4).replace(/^\//, "").replace(/\/$/, "")),
  );
}

/** dev.lock's packages by who needs them (package ids `name@version`). */
interface DevPackages {
  /** What deno.json's imports need: the router's run path. */
  runPath: Set<string>;
  /** The type packages (`@types/*` and their dependencies) `deno check` loads. */
  types: Set<string>;
  /** The rest: what only tests and benchmarks load. */
  testOnly: Set<string>;
}

async function devPackages(): Promise<DevPackages> {
  const dev = await readLock("dev.lock");
  const run = importMapSpecifiers();
  const specifiers = Object.keys(dev.specifiers ?? {});
  const typeRoots = specifiers.filter((s) => s.startsWith("npm:@types/"));
  const runPath = closure(dev, run);
  const types = closure(dev, typeRoots);
  const testRoots = specifiers.filter((s) => !run.has(s) && !typeRoots.includes(s));
  const testOnly = new Set(
    [...closure(dev, testRoots)].filter((id) => !runPath.has(id) && !types.has(id)),
  );
  return { runPath, types, testOnly };
}

/** The names of the packages only tests and benchmarks load. */
async function testOnlyPackages(): Promise<Set<string>> {
  return new Set([...(await devPackages()).testOnly].map(nameOf));
}

Deno.test("run path: the test clients are test-only packages (this check is not vacuous)", async () => {
  const testOnly = await testOnlyPackages();
  for (const name of ["autobahn", "wampy", "cborg", "websocket"]) {
    assert.ok(testOnly.has(name), `${name} should be a test-only package of dev.lock`);
  }
});

Deno.test("run path: deno.json's imports name no test-only package", async () => {
  const testOnly = await testOnlyPackages();
  const leaked = [...importMapSpecifiers()].map((s) => nameOf(s.slice(4)))
    .filter((name) => testOnly.has(name));
  assert.deepEqual(leaked, [], "move them to tests/_npm.ts");
});

Deno.test("run path: deno.lock holds exactly what deno.json's imports need, no test package", async () => {
  const lock = await readLock("deno.lock");
  const run = importMapSpecifiers();
  const extra = Object.keys(lock.specifiers ?? {}).filter((s) => !run.has(s));
  assert.deepEqual(
    extra,
    [],
    "deno.lock resolved specifiers deno.json does not import: a command loaded tests/ or bench/ " +
      "without --lock=dev.lock (use deno task test / check / bench; restore deno.lock from git)",
  );
  assert.deepEqual(Object.keys(lock.npm ?? {}).sort(), [...closure(lock, run)].sort());
  const testOnly = await testOnlyPackages();
  assert.deepEqual(Object.keys(lock.npm ?? {}).filter((id) => testOnly.has(nameOf(id))), []);
});

Deno.test("run path: main.ts's module graph reaches no test-only package", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    // dev.lock: the graph deno info builds includes the type packages (@types/ws), which only
    // `deno check` uses and deno.lock therefore leaves out.
    args: ["info", "--json", "--lock=dev.lock", "--frozen", "main.ts"],
    cwd: ROOT.pathname,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { kind: string; specifier: string; npmPackage?: string }[];
    npmPackages: Record<string, { dependencies: string[] }>;
  };
  const reached = new Set<string>();
  const todo = info.modules.flatMap((m) => m.npmPackage ? [m.npmPackage] : []);
  assert.ok(todo.some((id) => nameOf(id) === "ws"), "the graph should reach ws (sanity)");
  while (todo.length > 0) {
    const id = todo.pop()!;
    if (reached.has(id)) continue;
    reached.add(id);
    todo.push(...(info.npmPackages[id]?.dependencies ?? []));
  }
  const testOnly = await testOnlyPackages();
  assert.deepEqual([...reached].filter((id) => testOnly.has(nameOf(id))), []);
  // and deno.lock pins all of it but the type packages (`deno run` does not load them)
  const lock = await readLock("deno.lock");
  const { types } = await devPackages();
  const unpinned = [...reached].filter((id) => !types.has(id) && !(id in lock.npm!));
  assert.deepEqual(unpinned, [], "run `deno install` to add them to deno.lock");
});

Deno.test("run path: deno.lock and dev.lock pin the same versions of the router's packages", async () => {
  const run = await readLock("deno.lock");
  const dev = await readLock("dev.lock");
  const differ = Object.keys(run.npm ?? {}).filter((id) =>
    JSON.stringify(run.npm![id]) !== JSON.stringify(dev.npm?.[id])
  );
  assert.deepEqual(differ, [], "tests would run other versions than the router does");
  for (const [spec, version] of Object.entries(run.specifiers ?? {})) {
    assert.equal(dev.specifiers?.[spec], version, spec);
  }
});

Deno.test("run path: every package with a build script is listed in allowScripts (no warning box)", async () => {
  const listed = new Set(
    [...denoJson.allowScripts.deny].map((s) => s.replace(/^npm:/, "")),
  );
  for (const file of ["deno.lock", "dev.lock"]) {
    const lock = await readLock(file);
    const unlisted = Object.entries(lock.npm ?? {})
      .filter(([id, pkg]) => pkg.scripts && !listed.has(nameOf(id)))
      .map(([id]) => id);
    assert.deepEqual(unlisted, [], `${file}: packages whose build scripts Deno would warn about`);
  }
});

Deno.test("run path: the tasks that load tests or benchmarks use dev.lock", () => {
  const tasks = denoJson.tasks as Record<string, string>;
  assert.match(tasks.test!, /^deno test --lock=dev\.lock /);
  assert.match(tasks.bench!, /^deno run --lock=dev\.lock /);
  assert.match(tasks.check!, /deno check --lock=dev\.lock /);
  assert.doesNotMatch(tasks.start!, /--lock/);
});
