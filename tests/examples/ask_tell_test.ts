// examples/ask_tell.ts and examples/minimize.ts: the README's snippets, run as written.

import { assert } from "../_util.ts";

for (
  const [file, marker] of [["examples/ask_tell.ts", "opt.ask()"], [
    "examples/minimize.ts",
    "await minimize(",
  ]]
) {
  Deno.test(`the README's snippet with ${marker} is ${file}`, async () => {
    const readme = await Deno.readTextFile("README.md");
    const example = await Deno.readTextFile(file);
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
    const snippet = blocks.find((b) => b.includes(marker));
    assert.ok(snippet !== undefined, `the README has a snippet with ${marker}`);
    assert.ok(
      example.includes(snippet.replace('"@torchzero/torchzero"', '"../mod.ts"')),
      `${file} contains the README snippet`,
    );
  });
}

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

Deno.test("examples/minimize.ts reaches the Rosenbrock target from the host", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "examples/minimize.ts"],
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const match = /^target (\S+) (\d+) /.exec(text);
  assert.ok(match !== null, text);
  assert.ok(Number(match[1]) <= 1e-8 && Number(match[2]) < 7500, text);
});
