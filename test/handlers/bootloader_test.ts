/**
 * The bootloader backends against environments in files, without root: the real
 * fw_printenv/fw_setenv on a U-Boot environment image named by an fw_env.config, the real
 * grub-editenv on grub-mender-grubenv's two copies, and small shell scripts in place of the
 * tools for what real tools rarely do on demand: fail, or hang.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import { createBootEnv, envDump } from "../../examples/device/bootenv.ts";
import { configSchema } from "../../src/device/config.ts";
import { OtaError } from "../../src/errors.ts";
import { grubEnv } from "../../src/handlers/bootloader/grub.ts";
import { bootEnvFor } from "../../src/handlers/bootloader/mod.ts";
import { ubootEnv } from "../../src/handlers/bootloader/uboot.ts";
import { sh, tempDir } from "../helpers/mod.ts";

const SWITCH = { mender_boot_part: "3", mender_boot_part_hex: "3", upgrade_available: "1" };

async function fakeTool(dir: string, name: string, body: string): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path;
}

async function refusal(promise: Promise<unknown>, code: string): Promise<string> {
  const error = await assertRejects(() => promise);
  assert(error instanceof OtaError && error.code === code, String(error));
  return error.message;
}

Deno.test("U-Boot: reads and writes through the real tools; null removes a variable", async () => {
  await using dir = await tempDir();
  const conf = await createBootEnv({ dir: dir.path, bootloader: "uboot" });
  const env = ubootEnv(configSchema.parse(conf));
  assertEquals((await env.read()).mender_boot_part, "2");
  await env.write({ ...SWITCH, bootcount: "0", bootlimit: null });
  const seen = await envDump({ dir: dir.path, bootloader: "uboot" });
  assertEquals([seen.mender_boot_part, seen.upgrade_available, seen.bootlimit], [
    "3",
    "1",
    undefined,
  ]);
  assertEquals(await env.read(), seen);
});

Deno.test("U-Boot, redundant environment: all variables go in one write", async () => {
  await using dir = await tempDir();
  const conf = await createBootEnv({ dir: dir.path, bootloader: "uboot" }, true);
  const env = ubootEnv(configSchema.parse(conf));
  const before = await env.read();
  await env.write(SWITCH);
  // undo the last write as a cut during it would: spoil the newer copy's checksum
  const copies = [`${dir.path}/uboot.env`, `${dir.path}/uboot2.env`];
  const flags = await Promise.all(copies.map(async (c) => (await Deno.readFile(c))[4]!));
  const newer = copies[flags[0]! > flags[1]! ? 0 : 1]!;
  const bytes = await Deno.readFile(newer);
  bytes[0] = bytes[0]! ^ 0xff;
  await Deno.writeFile(newer, bytes);
  assertEquals(await env.read(), before, "the older copy holds none of the three variables");
});

Deno.test("GRUB: both copies are written; a copy marked as being edited is not read", async () => {
  await using dir = await tempDir();
  const conf = await createBootEnv({ dir: dir.path, bootloader: "grub" });
  const env = bootEnvFor(configSchema.parse({ ...conf, Bootloader: "auto" }));
  assertEquals(env.kind, "grub", "auto finds the GRUB environment");
  await env.write({ ...SWITCH, bootcount: null });
  for (const n of [1, 2]) {
    const copy = `${dir.path}/grubenv/mender_grubenv${n}`;
    assertStringIncludes(await sh(["grub-editenv", `${copy}/env`, "list"]), "upgrade_available=1");
    assertStringIncludes(await sh(["grub-editenv", `${copy}/lock`, "list"]), "editing=0");
  }
  // a cut while copy 1 was written: its lock still says editing, so copy 2 counts
  const one = `${dir.path}/grubenv/mender_grubenv1`;
  await sh(["grub-editenv", `${one}/env`, "set", "mender_boot_part=9"]);
  await sh(["grub-editenv", `${one}/lock`, "set", "editing=1"]);
  assertEquals((await env.read()).mender_boot_part, "3");
  const two = `${dir.path}/grubenv/mender_grubenv2`;
  await sh(["grub-editenv", `${two}/lock`, "set", "editing=1"]);
  await refusal(env.read(), "BOOTENV_READ");
});

Deno.test("without a GRUB environment, auto means U-Boot", async () => {
  await using dir = await tempDir();
  const conf = await createBootEnv({ dir: dir.path, bootloader: "uboot" });
  assertEquals(bootEnvFor(configSchema.parse({ ...conf, Bootloader: "auto" })).kind, "uboot");
});

Deno.test("fake tools: a tool that fails is reported with its own words", async () => {
  await using dir = await tempDir();
  const config = configSchema.parse({
    FwPrintenv: await fakeTool(
      dir.path,
      "fw_printenv",
      'echo "Cannot read environment" >&2; exit 1',
    ),
    FwSetenv: await fakeTool(dir.path, "fw_setenv", "cat > /dev/null; exit 3"),
  });
  const env = ubootEnv(config);
  assertStringIncludes(await refusal(env.read(), "BOOTENV_READ"), "Cannot read environment");
  assertStringIncludes(await refusal(env.write(SWITCH), "BOOTENV_WRITE"), "exit 3");
  const missing = ubootEnv(configSchema.parse({ FwPrintenv: `${dir.path}/nowhere` }));
  assertStringIncludes(await refusal(missing.read(), "BOOTENV_READ"), "was not found");
});

Deno.test("fake tools: a tool that hangs is stopped at the timeout", async () => {
  await using dir = await tempDir();
  const hang = await fakeTool(dir.path, "hang", "sleep 30");
  const started = Date.now();
  const uboot = ubootEnv(configSchema.parse({ FwPrintenv: hang, FwSetenv: hang }), 300);
  assertStringIncludes(await refusal(uboot.read(), "BOOTENV_READ"), "did not finish in time");
  assertStringIncludes(await refusal(uboot.write(SWITCH), "BOOTENV_WRITE"), "did not finish");
  const grub = grubEnv(configSchema.parse({ GrubEditenv: hang }), dir.path, 300);
  await refusal(grub.write(SWITCH), "BOOTENV_WRITE");
  assert(Date.now() - started < 10_000, "not the tool's 30 s");
});
