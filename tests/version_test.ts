// src/version.ts: the version checkpoints and results record is the published one.

import assert from "node:assert/strict";
import { PACKAGE, VERSION } from "../src/version.ts";

Deno.test("VERSION and PACKAGE are deno.json's version and name", async () => {
  const config = JSON.parse(await Deno.readTextFile("deno.json"));
  assert.equal(VERSION, config.version);
  assert.equal(PACKAGE, config.name);
});
