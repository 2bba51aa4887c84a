/**
 * A child process for tests, with stdout and stderr drained in the background: wait for a
 * line on stdout or for any output matching a pattern, signal it, read its exit status. On
 * dispose it is killed (SIGKILL) and reaped, so no process outlives its test.
 *
 * @module
 */

/**
 * The permissions the router CLI needs, as `deno task start` gives them: the network, reading
 * the config and TLS files, and the two variables the WebSocket library reads when it loads.
 */
export const CLI_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE",
];

export class Child implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  stdout = "";
  stderr = "";
  readonly #drained: Promise<void>;
  #waiters: (() => void)[] = [];
  #ended = false;
  readonly #status: Promise<Deno.CommandStatus>;

  /** Spawns `command`, which must have `stdout` and `stderr` piped. */
  constructor(command: Deno.Command) {
    this.process = command.spawn();
    this.#status = this.process.status.then((status) => {
      this.#ended = true;
      this.#wake();
      return status;
    });
    const drain = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this[into] += chunk;
        this.#wake();
      }
    };
    this.#drained = Promise.all([
      drain(this.process.stdout, "stdout"),
      drain(this.process.stderr, "stderr"),
    ]).then(() => this.#wake());
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /**
   * Resolves with the first value `probe` finds in the output so far, waiting for more output
   * as needed; fails if the process ends first, or after `ms` if given.
   */
  async #until<T>(what: string, probe: () => T | undefined, ms?: number): Promise<T> {
    const deadline = ms === undefined ? Infinity : Date.now() + ms;
    for (;;) {
      const found = probe();
      if (found !== undefined) return found;
      if (this.#ended) {
        await this.#drained;
        const again = probe();
        if (again !== undefined) return again;
        throw new Error(`process ended without ${what}\n${this.#output()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${ms} ms\n${this.#output()}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        if (left !== Infinity) timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  #output(): string {
    return `stdout:\n${this.stdout}\nstderr:\n${this.stderr}`;
  }

  /** The first stdout line that matches `pattern` (fails if the process ends first). */
  stdoutLine(pattern: RegExp): Promise<string> {
    return this.#until(
      String(pattern),
      () => this.stdout.split("\n").find((l) => pattern.test(l)),
    );
  }

  /**
   * Waits until stdout or stderr (either; loggers differ) matches `pattern`, at most `ms`;
   * returns the match.
   */
  output(pattern: RegExp, ms: number): Promise<RegExpMatchArray> {
    return this.#until(
      String(pattern),
      () => this.stdout.match(pattern) ?? this.stderr.match(pattern) ?? undefined,
      ms,
    );
  }

  /** Waits for the exit status once stdout and stderr are fully read. */
  async status(): Promise<Deno.CommandStatus> {
    const status = await this.#status;
    await this.#drained;
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#ended) {
      try {
        this.process.kill("SIGKILL");
      } catch (e) {
        // It may exit between the check and the kill; anything else is a real error.
        if (!(e instanceof TypeError)) throw e;
      }
    }
    await this.status();
  }
}
