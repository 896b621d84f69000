// A nats-server for the tests: the one .ci/run started (TZ_NATS_URL), or one started here on a
// free port with a temporary JetStream store; undefined (the tests skip, saying why) when
// nats-server is not installed.

import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";

/** A running nats-server the tests may stop and start again (on the same port and store). */
export class NatsServer {
  readonly url: string;
  /** The WebSocket listener's URL (browsers), on the next port. */
  readonly wsUrl: string;
  readonly #store: string;
  readonly #port: number;
  #child: Deno.ChildProcess | null = null;

  private constructor(port: number, store: string) {
    this.#port = port;
    this.#store = store;
    this.url = `127.0.0.1:${port}`;
    this.wsUrl = `ws://127.0.0.1:${port + 1}`;
  }

  /** Starts nats-server with JetStream, or returns null when it is not installed. */
  static async start(): Promise<NatsServer | null> {
    const port = freePort();
    const server = new NatsServer(port, await Deno.makeTempDir({ prefix: "tz-nats-" }));
    try {
      await server.restart();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
    return server;
  }

  /** (Re)starts the server process and waits until it accepts connections. */
  async restart(): Promise<void> {
    // A config file: the WebSocket listener has no command-line flag.
    const config = `${this.#store}.conf`;
    await Deno.writeTextFile(
      config,
      `listen: 127.0.0.1:${this.#port}\njetstream { store_dir: "${this.#store}" }\n` +
        `websocket { host: 127.0.0.1, port: ${this.#port + 1}, no_tls: true }\n`,
    );
    this.#child = new Deno.Command(serverPath(), {
      args: ["-c", config],
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 100; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: this.#port })).close();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`nats-server did not start on port ${this.#port}`);
  }

  /** Kills the server (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    this.#child?.kill("SIGKILL");
    await this.#child?.status;
    this.#child = null;
  }

  /** Stops the server and removes its store. */
  async stop(): Promise<void> {
    await this.kill();
    await Deno.remove(this.#store, { recursive: true }).catch(() => undefined);
    await Deno.remove(`${this.#store}.conf`).catch(() => undefined);
  }
}

/** A port p such that p and p + 1 were free a moment ago. */
function freePort(): number {
  for (;;) {
    const a = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (a.addr as Deno.NetAddr).port;
    try {
      Deno.listen({ hostname: "127.0.0.1", port: port + 1 }).close();
      return port;
    } catch {
      // taken: try another
    } finally {
      a.close();
    }
  }
}

function serverPath(): string {
  for (const dir of ["/usr/sbin", "/usr/bin", "/usr/local/bin"]) {
    try {
      Deno.statSync(`${dir}/nats-server`);
      return `${dir}/nats-server`;
    } catch { /* next */ }
  }
  return "nats-server";
}

/** A connection that reconnects for ever (the server may restart under it). */
export function connectTo(url: string): Promise<NatsConnection> {
  return connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
}
