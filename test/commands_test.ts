/**
 * The command line loads its commands by name (src/cli/commands.ts): the names the registry
 * promises are the names the modules make, a command line gets the commands it names (all
 * of them for help and for names that do not exist), and help lists them as before.
 */
import type { Command } from "commander";
import { buildProgram } from "../src/cli/main.ts";
import { artifactCommands, topCommands } from "../src/cli/commands.ts";
import { assertEquals } from "./helpers/assert.ts";

const names = (command: Command | undefined) => command?.commands.map((c) => c.name()) ?? [];
const artifactOf = (program: Command) => program.commands.find((c) => c.name() === "artifact");
const context = { progressMode: () => "none" as const };

Deno.test("each registry entry names exactly the commands its module makes", async () => {
  for (const entry of [...artifactCommands, ...topCommands]) {
    const made = (await entry.load(context)).map((c) => c.name());
    assertEquals(made, [...entry.names]);
  }
});

Deno.test("help and unknown names load every command, in the registry's order", async () => {
  const all = ["artifact", ...topCommands.flatMap((e) => e.names)];
  const artifactAll = artifactCommands.flatMap((e) => e.names);
  for (const argv of [[], ["--help"], ["help"], ["bogus"], ["--progress", "none"]]) {
    const program = await buildProgram(argv);
    assertEquals(names(program), all, argv.join(" "));
    assertEquals(names(artifactOf(program)), artifactAll, argv.join(" "));
  }
  for (const argv of [["artifact"], ["artifact", "--help"], ["artifact", "bogus", "x"]]) {
    const program = await buildProgram(argv);
    assertEquals(names(program), ["artifact"], argv.join(" "));
    assertEquals(names(artifactOf(program)), artifactAll, argv.join(" "));
  }
});

Deno.test("a command line loads only the commands it names", async () => {
  const read = await buildProgram(["--progress", "none", "artifact", "read", "--json", "a.mender"]);
  assertEquals(names(read), ["artifact"]);
  assertEquals(names(artifactOf(read)), ["read", "validate"]);
  const install = await buildProgram(["install", "a.mender"]);
  assertEquals(names(install), topCommands[0]!.names);
  const serve = await buildProgram(["--debug", "serve", "dir"]);
  assertEquals(names(serve), ["serve"]);
});
