/**
 * The status page's script is built from `src/status/client/` by `deno task status:build`
 * into the committed `src/status/client_bundle.generated.ts`. This test bundles the client
 * again (type-checking it, as the task does) and fails when the committed module is not
 * exactly what the task would write now.
 */

import { bundleClient, GENERATED_MODULE, generatedModule } from "../src/status/build.ts";

/** The script inside a generated module's text ("" if it cannot be read). */
function scriptOf(moduleText: string): string {
  const m = moduleText.match(/^export const STATUS_CLIENT_JS: string = (".*");$/m);
  try {
    return m ? JSON.parse(m[1]!) : "";
  } catch {
    return "";
  }
}

Deno.test("status page: the committed client bundle is what `deno task status:build` makes", async () => {
  const built = await bundleClient();
  const committed = await Deno.readTextFile(GENERATED_MODULE);
  if (committed === generatedModule(built)) return;
  const a = scriptOf(committed).split("\n");
  const b = built.split("\n");
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  throw new Error(
    "src/status/client_bundle.generated.ts is stale: run `deno task status:build` and commit " +
      `it. First difference in the script, line ${i + 1}:\n` +
      `  committed: ${a[i] ?? "(end)"}\n  built now: ${b[i] ?? "(end)"}`,
  );
});
