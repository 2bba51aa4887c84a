/**
 * The shape of `src/`: dependencies point one way (protocol vocabulary ← serializers ←
 * transports ← config ← auth, stats ← router ← cluster ← create_router.ts), no import cycle anywhere, no file over 600
 * lines. Read from the files themselves, so a new back edge or cycle fails here.
 */

import assert from "node:assert/strict";

const SRC = new URL("../src/", import.meta.url);
const MAX_LINES = 600;

/**
 * The layers, lowest first. A file may import files of its own group and of lower layers only.
 * Groups are directories of `src/` (or single files at its top).
 */
const LAYERS: readonly (readonly string[])[] = [
  ["wamp", "clock.ts", "log_format.ts", "net"],
  ["log.ts", "coarse_timers.ts"],
  ["serializer"],
  ["transport", "http"],
  ["client.ts", "config"],
  ["auth", "stats", "metrics.ts"],
  ["http_bridge.ts", "status"],
  ["router"],
  ["cluster"],
  ["create_router.ts"],
];

function groupOf(path: string): string {
  return path.split("/")[0]!;
}

function layerOf(path: string): number {
  const group = groupOf(path);
  return LAYERS.findIndex((l) => l.includes(group));
}

async function sourceFiles(dir = SRC, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) {
      out.push(...await sourceFiles(new URL(`${e.name}/`, dir), `${prefix}${e.name}/`));
    } else if (e.name.endsWith(".ts")) out.push(`${prefix}${e.name}`);
  }
  return out.sort();
}

/** Relative imports of a file (static, type-only, re-exports and dynamic), as src paths. */
function importsOf(path: string, text: string): string[] {
  const specs = [
    ...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*["'](\.[^"']+)["']/gms),
    ...text.matchAll(/^\s*import\s*["'](\.[^"']+)["']/gm),
    ...text.matchAll(/\bimport\(\s*["'](\.[^"']+)["']\s*\)/g),
  ].map((m) => m[1]!);
  return specs.map((s) => new URL(s, new URL(path, SRC)).href.slice(SRC.href.length));
}

async function graph(): Promise<Map<string, string[]>> {
  const g = new Map<string, string[]>();
  for (const f of await sourceFiles()) {
    g.set(f, importsOf(f, await Deno.readTextFile(new URL(f, SRC))));
  }
  return g;
}

/** Strongly connected components with more than one file, or a file importing itself. */
function cycles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return out;
}

Deno.test("layout: every import in src/ resolves to a file in src/", async () => {
  const g = await graph();
  const missing = [...g].flatMap(([f, imports]) =>
    imports.filter((i) => !g.has(i)).map((i) => `${f} → ${i}`)
  );
  assert.deepEqual(missing, []);
});

Deno.test("layout: every file of src/ belongs to a layer", async () => {
  const g = await graph();
  assert.deepEqual([...g.keys()].filter((f) => layerOf(f) < 0), []);
});

Deno.test("layout: no import points to a higher layer or across a layer", async () => {
  const g = await graph();
  const back: string[] = [];
  for (const [f, imports] of g) {
    for (const i of imports) {
      const from = layerOf(f);
      const to = layerOf(i);
      if (to > from || (to === from && groupOf(f) !== groupOf(i))) back.push(`${f} → ${i}`);
    }
  }
  assert.deepEqual(back, []);
});

Deno.test("layout: no import cycle in src/", async () => {
  assert.deepEqual(cycles(await graph()), []);
});

Deno.test("layout: the cycle finder finds a cycle", () => {
  const g = new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]], ["d.ts", []]]);
  assert.deepEqual(cycles(g), [["a.ts", "b.ts", "c.ts"]]);
});

Deno.test(`layout: no file in src/ is over ${MAX_LINES} lines`, async () => {
  const long: string[] = [];
  for (const f of await sourceFiles()) {
    const lines = (await Deno.readTextFile(new URL(f, SRC))).split("\n").length - 1;
    if (lines > MAX_LINES) long.push(`${f}: ${lines}`);
  }
  assert.deepEqual(long, []);
});
