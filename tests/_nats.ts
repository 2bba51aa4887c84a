/**
 * A nats-server for tests: JetStream on, listening on 127.0.0.1 at a free port, storing in a
 * temporary directory. `stop()` ends it (SIGTERM), `kill()` as a crash (SIGKILL), `restart()`
 * starts it again on the same port with the same store. Disposing it (`await using`) kills it
 * and removes the store.
 *
 * @module
 */

/** Where the Debian package installs the server. */
const NATS_SERVER = "/usr/sbin/nats-server";

/** A port nothing listens on right now: bound at port 0, then released. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A running (or stopped) nats-server. */
/**
 * True once the server's JetStream API answers a request (`$JS.API.INFO`, in the raw client
 * protocol): a server greets clients a moment before JetStream serves, and a node started in
 * that moment cannot join (`jetstream is not enabled`).
 */
async function jetStreamAnswers(port: number): Promise<boolean> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const request = 'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\n' +
      "SUB _INBOX.sbready 1\r\nPUB $JS.API.INFO _INBOX.sbready 0\r\n\r\nPING\r\n";
    await conn.write(new TextEncoder().encode(request));
    const decoder = new TextDecoder();
    let text = "";
    const buf = new Uint8Array(4096);
    const end = Date.now() + 1000;
    while (Date.now() < end) {
      const timer = setTimeout(() => conn.close(), Math.max(1, end - Date.now()));
      let n: number | null = null;
      try {
        n = await conn.read(buf);
      } catch {
        return false; // closed by the timer
      } finally {
        clearTimeout(timer);
      }
      if (n === null) return false;
      text += decoder.decode(buf.subarray(0, n));
      // a JetStream reply is a MSG with a body; "no responders" comes as HMSG with status 503
      if (text.includes("MSG _INBOX.sbready") && !text.includes("HMSG")) return true;
      if (text.includes("HMSG _INBOX.sbready")) return false;
    }
    return false;
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the timer already
    }
  }
}

export class NatsServer implements AsyncDisposable {
  readonly port: number;
  readonly dir: string;
  #child: Deno.ChildProcess | null = null;
  #log = "";
  #drained: Promise<void> = Promise.resolve();

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  /** Starts a server and waits until it accepts connections. */
  static async start(): Promise<NatsServer> {
    const server = new NatsServer(freePort(), await Deno.makeTempDir({ prefix: "sb-nats-" }));
    try {
      await server.#spawn();
    } catch (error) {
      await server[Symbol.asyncDispose]();
      throw error;
    }
    return server;
  }

  /** The server's address for clients. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Whether the process runs. */
  get running(): boolean {
    return this.#child !== null;
  }

  async #spawn(): Promise<void> {
    const child = new Deno.Command(NATS_SERVER, {
      args: ["-js", "-a", "127.0.0.1", "-p", String(this.port), "-sd", this.dir],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.#log = (this.#log + chunk).slice(-20_000);
      }
    };
    this.#drained = Promise.all([drain(child.stdout), drain(child.stderr)]).then(() => {});
    let exited = false;
    const status = child.status.then(() => {
      exited = true;
    });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (exited) break;
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
        // The server greets with INFO once it serves clients.
        const buf = new Uint8Array(4);
        const n = await conn.read(buf);
        conn.close();
        if (
          n === 4 && new TextDecoder().decode(buf) === "INFO" && await jetStreamAnswers(this.port)
        ) {
          return;
        }
      } catch {
        // not listening yet
      }
      await sleep(25);
    }
    if (!exited) child.kill("SIGKILL");
    await status;
    await this.#drained;
    this.#child = null;
    throw new Error(`nats-server did not start on port ${this.port}\n${this.#log}`);
  }

  async #end(signal: Deno.Signal): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    this.#child = null;
    try {
      child.kill(signal);
      // a paused server would not act on SIGTERM until it runs again
      if (this.#paused) child.kill("SIGCONT");
    } catch {
      // already gone
    }
    this.#paused = false;
    await child.status;
    await this.#drained;
  }

  /** Stops the server cleanly (SIGTERM) and waits for it to exit. */
  stop(): Promise<void> {
    return this.#end("SIGTERM");
  }

  /** Kills the server (SIGKILL), as a crash, and waits for it to exit. */
  kill(): Promise<void> {
    return this.#end("SIGKILL");
  }

  #paused = false;

  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void {
    if (this.#child === null) throw new Error("nats-server is not running");
    this.#child.kill("SIGSTOP");
    this.#paused = true;
  }

  /** Lets a paused server run on (SIGCONT). */
  resume(): void {
    if (this.#child === null || !this.#paused) return;
    this.#child.kill("SIGCONT");
    this.#paused = false;
  }

  /** Starts the server again (stopping it first if it runs): same port, same store. */
  async restart(): Promise<void> {
    await this.stop();
    await this.#spawn();
  }

  /** The server's recent output, for failure messages. */
  get log(): string {
    return this.#log;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
