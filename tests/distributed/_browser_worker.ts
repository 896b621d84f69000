// The worker of the headless-Chromium test, bundled for the browser (`deno bundle --platform
// browser`): the test job of _job.ts over a WebSocket connection, reporting through the console
// (the test reads Chromium's log). Query: ?nats=ws://host:port&run=NAME&strategy=NAME

import { wsconnect } from "@nats-io/nats-core";
import { runWorker } from "../../src/distributed/worker.ts";
import { testJob } from "./_job.ts";

const query = new URLSearchParams(location.search);
const page = (globalThis as { document?: { body: { textContent: string } } }).document;
const report = (line: string) => {
  console.log(line); // the test reads it from Chromium's log
  if (page !== undefined) page.body.textContent = line;
};
try {
  const adapter = await navigator.gpu?.requestAdapter();
  report(`WORKER START adapter ${adapter?.info?.architecture ?? "none"}`);
  const nc = await wsconnect({ servers: query.get("nats")!, maxReconnectAttempts: -1 });
  const job = await testJob(query.get("strategy")!);
  const result = await runWorker(nc, job, { run: query.get("run")!, name: "browser" });
  report(`WORKER DONE ${JSON.stringify(result)}`);
  await nc.close();
} catch (error) {
  report(`WORKER FAILED ${(error as Error)?.stack ?? error}`);
}
