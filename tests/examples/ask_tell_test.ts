// examples/ask_tell.ts: the README's ask/tell snippet, run as written.

import { assert } from "../_util.ts";

Deno.test("the README's ask/tell snippet is examples/ask_tell.ts", async () => {
  const readme = await Deno.readTextFile("README.md");
  const example = await Deno.readTextFile("examples/ask_tell.ts");
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  const snippet = blocks.find((b) => b.includes("opt.ask()"));
  assert.ok(snippet !== undefined, "the README has an ask/tell snippet");
  assert.ok(
    example.includes(snippet.replace('"@torchzero/torchzero"', '"../mod.ts"')),
    "examples/ask_tell.ts contains the README snippet",
  );
});

Deno.test("examples/ask_tell.ts minimizes the Rosenbrock function from the host", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "examples/ask_tell.ts"],
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const match = /x = (\S+), y = (\S+), f = (\S+)/.exec(text);
  assert.ok(match !== null, text);
  const [x, y, f] = match.slice(1).map(Number);
  assert.ok(Math.abs(x - 1) < 0.01 && Math.abs(y - 1) < 0.02, `(${x}, ${y})`);
  assert.ok(f < 1e-5, `f = ${f}`);
});
