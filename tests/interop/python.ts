/**
 * Runs tests/interop/autobahn_client.py (Autobahn|Python, asyncio) as a child process with a
 * hard timeout, and reads its stdout line by line.
 *
 * @module
 */

const SCRIPT = new URL("./autobahn_client.py", import.meta.url).pathname;

/** Kill the script if it has not exited by then. */
export const PYTHON_TIMEOUT_MS = 20_000;

/**
 * The first interpreter that can import autobahn, msgpack and cbor2: $SWITCHBOARD_PYTHON if
 * set, else /usr/bin/python3 (Debian's python3-autobahn lives there), else `python3` on PATH.
 * Returns null, with the reasons, if none can.
 */
export async function findPython(): Promise<{ python: string | null; tried: string[] }> {
  const fromEnv = Deno.env.get("SWITCHBOARD_PYTHON");
  const candidates = fromEnv ? [fromEnv] : ["/usr/bin/python3", "python3"];
  const tried: string[] = [];
  for (const python of candidates) {
    try {
      const out = await new Deno.Command(python, {
        args: ["-c", "import autobahn, msgpack, cbor2; print(autobahn.__version__)"],
        stdout: "piped",
        stderr: "piped",
        env: { PYTHONDONTWRITEBYTECODE: "1" },
      }).output();
      const text = new TextDecoder().decode(out.success ? out.stdout : out.stderr).trim();
      if (out.success) return { python, tried: [...tried, `${python}: autobahn ${text}`] };
      tried.push(`${python}: ${text.split("\n").at(-1)}`);
    } catch (e) {
      tried.push(`${python}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { python: null, tried };
}

/** Options for one scenario run. */
export interface ScenarioOptions {
  url: string;
  scenario: string;
  serializer: string;
  realm?: string;
  topic?: string;
}

/** What the script printed and how it ended. */
export interface ScenarioRun {
  code: number;
  /** Every stdout line before the result line (e.g. READY). */
  lines: string[];
  /** The parsed JSON result line (the last stdout line), or null if there was none. */
  result: Record<string, unknown> | null;
  stderr: string;
  timedOut: boolean;
}

/**
 * A running script. `line(text)` resolves when that stdout line appears; `done` resolves
 * when the process has exited and both pipes are drained.
 */
export class PythonScenario {
  readonly done: Promise<ScenarioRun>;
  readonly #lines: string[] = [];
  #watchers: { text: string; resolve: () => void }[] = [];
  #finished = false;

  constructor(python: string, opts: ScenarioOptions) {
    const args = [
      SCRIPT,
      "--url",
      opts.url,
      "--realm",
      opts.realm ?? "realm1",
      "--serializer",
      opts.serializer,
      "--scenario",
      opts.scenario,
    ];
    if (opts.topic) args.push("--topic", opts.topic);
    const child = new Deno.Command(python, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1" },
    }).spawn();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
    }, PYTHON_TIMEOUT_MS);
    const stderr = new Response(child.stderr).text();
    const stdout = this.#readLines(child.stdout);
    this.done = (async () => {
      try {
        const [status, err] = await Promise.all([child.status, stderr, stdout]);
        const lines = [...this.#lines];
        const last = lines.at(-1);
        let result: Record<string, unknown> | null = null;
        if (last?.startsWith("{")) {
          result = JSON.parse(last) as Record<string, unknown>;
          lines.pop();
        }
        return { code: status.code, lines, result, stderr: err, timedOut };
      } finally {
        clearTimeout(timer);
        this.#finished = true;
        for (const w of this.#watchers.splice(0)) w.resolve();
      }
    })();
  }

  async #readLines(stream: ReadableStream<Uint8Array>): Promise<void> {
    let buffer = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        this.#addLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    }
    if (buffer) this.#addLine(buffer);
  }

  #addLine(line: string): void {
    this.#lines.push(line);
    this.#watchers = this.#watchers.filter((w) => {
      if (w.text !== line) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves when stdout has shown `text` as a whole line; rejects if the script exits first. */
  async line(text: string): Promise<void> {
    if (!this.#lines.includes(text) && !this.#finished) {
      await new Promise<void>((resolve) => this.#watchers.push({ text, resolve }));
    }
    if (!this.#lines.includes(text)) {
      const run = await this.done;
      throw new Error(`script exited without printing ${text}: ${describeRun(run)}`);
    }
  }
}

/** Runs one scenario to completion. */
export function runScenario(python: string, opts: ScenarioOptions): Promise<ScenarioRun> {
  return new PythonScenario(python, opts).done;
}

/** Runs a scenario and returns its JSON result; throws with stderr if it failed. */
export async function scenarioResult(
  python: string,
  opts: ScenarioOptions,
): Promise<Record<string, unknown>> {
  const run = await runScenario(python, opts);
  if (run.code !== 0 || !run.result) throw new Error(describeRun(run));
  return run.result;
}

/** A one-paragraph account of a run, for failure messages. */
export function describeRun(run: ScenarioRun): string {
  return `exit ${run.code}${run.timedOut ? " (killed after timeout)" : ""}; stdout lines ${
    JSON.stringify(run.lines)
  }; result ${JSON.stringify(run.result)}; stderr: ${run.stderr.trim() || "(empty)"}`;
}
