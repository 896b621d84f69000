// A nats-server for the tests: the one .ci/run started (TZ_NATS_URL), or one started here on a
// free port with a temporary JetStream store; undefined (the tests skip, saying why) when
// nats-server is not installed.

import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";

/** A running nats-server the tests may stop and start again (on the same port and store). */
export class NatsServer {
  readonly url: string;
  readonly #store: string;
  readonly #port: number;
  #child: Deno.ChildProcess | null = null;

  private constructor(port: number, store: string) {
    this.#port = port;
    this.#store = store;
    this.url = `127.0.0.1:${port}`;
  }

  /** Starts nats-server with JetStream, or returns null when it is not installed. */
  static async start(): Promise<NatsServer | null> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
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
    this.#child = new Deno.Command(serverPath(), {
      args: ["-js", "-a", "127.0.0.1", "-p", String(this.#port), "-sd", this.#store],
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
