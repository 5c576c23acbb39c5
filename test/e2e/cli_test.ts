/**
 * The command line as a person meets it: every command's --help teaches with an example,
 * bad input gives one line with a code and exit 1, a broken configuration says which key.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { BUILD, ota, OTA_FILE, otaExecutable, run } from "../helpers/mod.ts";
import { fixture } from "./fixture.ts";

const commands = [
  [],
  ["artifact"],
  ["artifact", "write"],
  ["artifact", "write", "rootfs-image"],
  ["artifact", "write", "module-image"],
  ["artifact", "write", "bootstrap-artifact"],
  ["artifact", "read"],
  ["artifact", "validate"],
  ["artifact", "sign"],
  ["artifact", "dump"],
  ["artifact", "modify"],
  ["artifact", "cp"],
  ["artifact", "cat"],
  ["artifact", "install"],
  ["artifact", "rm"],
  ["install"],
  ["commit"],
  ["rollback"],
  ["resume"],
  ["show-artifact"],
  ["show-provides"],
  ["serve"],
  ["peers"],
  ["module"],
  ["install-modules"],
];

Deno.test("every command's --help has an example", async () => {
  for (const command of commands) {
    const help = await ota([...command, "--help"]);
    assertEquals(help.code, 0, `${command.join(" ")}: ${help.stderr}`);
    assertMatch(help.stdout, /Examples?:\n/, `ota ${command.join(" ")} --help has no example`);
  }
});

Deno.test("usage errors and bad configuration: one line, a code, exit 1", async () => {
  await using f = await fixture();
  const missing = await ota(["artifact", "write", "rootfs-image", "-n", "x", "-t", "b"]);
  assertEquals(missing.code, 1);
  assertStringIncludes(missing.stderr, "[BAD_ARGUMENTS]");
  const unknown = await ota([
    "artifact",
    "write",
    "rootfs-image",
    "-n",
    "x",
    "-t",
    "b",
    "-f",
    "/nonexistent",
  ]);
  assertEquals(unknown.code, 1);
  assert(!/\n\s+at /.test(unknown.stderr), unknown.stderr);

  await Deno.writeTextFile(f.device.config, '{"RootfsPartA": 7}');
  const bad = await f.ota("show-artifact");
  assertEquals(bad.code, 1);
  assertStringIncludes(bad.stderr, "[CONFIG_INVALID]");
  assertStringIncludes(bad.stderr, "RootfsPartA");
  await Deno.writeTextFile(f.device.config, "{not json");
  const broken = await f.ota("commit");
  assertEquals(broken.code, 1);
  assertStringIncludes(broken.stderr, "[CONFIG_INVALID]");
  assertEquals(broken.stderr.trim().split("\n").length, 1, broken.stderr);
});

Deno.test("--debug shows the stack of a failure; without it there is none", async () => {
  const plain = await ota(["artifact", "read", "/nonexistent.mender"]);
  const debug = await ota(["--debug", "artifact", "read", "/nonexistent.mender"]);
  assertEquals([plain.code, debug.code], [1, 1]);
  assert(!/\n\s+at /.test(plain.stderr));
  assertMatch(debug.stderr, /\n\s+at /);
});

Deno.test("install-modules writes shims that run the built-in modules through this binary", async () => {
  await using f = await fixture();
  const dir = `${f.device.dir}/modules`;
  const result = await ota(["install-modules", dir]);
  assertEquals(result.code, 0, result.stderr);
  for (const name of ["dfu", "directory", "docker"]) {
    assertEquals(((await Deno.stat(`${dir}/${name}`)).mode ?? 0) & 0o111, 0o111);
  }
  // each shim execs the build by its full path...
  assertStringIncludes(await Deno.readTextFile(`${dir}/directory`), `:-${OTA_FILE}}" module`);
  // ...and answers as the module does, with no ota in PATH. An emulated build cannot be
  // exec'd without binfmt_misc, so there the shim's OTA_BIN names a wrapper around qemu.
  const env: Record<string, string> = { PATH: "/usr/bin:/bin" };
  if (BUILD === "arm64" || BUILD === "armv7") env.OTA_BIN = otaExecutable();
  const answer = await run([`${dir}/directory`, "SupportsRollback", f.dir], { env });
  assertEquals(answer.stdout.trim(), "Yes", answer.stderr);
  assertEquals(
    (await run([`${dir}/dfu`, "NeedsArtifactReboot", f.dir], { env })).stdout.trim(),
    "Yes",
  );
  const unknown = await ota(["install-modules", "--only", "nope", dir]);
  assertEquals(unknown.code, 1);
  assertStringIncludes(unknown.stderr, "[MODULE_UNKNOWN]");
});
