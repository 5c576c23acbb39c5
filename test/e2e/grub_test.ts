/**
 * A/B updates on a GRUB board: the environment is grub-mender-grubenv's two copies with
 * lock files, edited through the real grub-editenv, and the boot model follows its
 * one-trial-boot script.
 */
import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { sh } from "../helpers/mod.ts";
import { fixture } from "./fixture.ts";

const grubenv = (dir: string, n: number) => `${dir}/grubenv/mender_grubenv${n}`;

async function list(file: string): Promise<Record<string, string>> {
  const out = await sh(["grub-editenv", file, "list"]);
  return Object.fromEntries(out.trim().split("\n").map((l) => l.split("=") as [string, string]));
}

Deno.test("GRUB: install writes both environment copies; boot, commit", async () => {
  await using f = await fixture({ bootloader: "grub" });
  const install = await f.ota("install", await f.rootfsArtifact("release-2"));
  assertEquals(install.code, 0, install.stderr);
  for (const n of [1, 2]) {
    const env = await list(`${grubenv(f.device.dir, n)}/env`);
    assertEquals([env.mender_boot_part, env.upgrade_available, env.bootcount], ["3", "1", "0"]);
    assertEquals((await list(`${grubenv(f.device.dir, n)}/lock`)).editing, "0");
  }
  assertEquals((await f.boot()).slotId, "release-2 rootfs");
  assertEquals((await f.ota("commit")).code, 0);
  assertEquals((await list(`${grubenv(f.device.dir, 2)}/env`)).upgrade_available, "0");
  assertEquals((await f.ota("show-artifact")).stdout.trim(), "release-2");
});

Deno.test("GRUB: a second boot without commit falls back, and commit is refused", async () => {
  await using f = await fixture({ bootloader: "grub" });
  assertEquals((await f.ota("install", await f.rootfsArtifact("release-2"))).code, 0);
  assertEquals((await f.boot()).part, 3);
  assertEquals(await f.boot(), { part: 2, rolledBack: true, slotId: "factory image, slot A" });
  const commit = await f.ota("commit");
  assertEquals(commit.code, 1);
  assertStringIncludes(commit.stderr, "[ROLLED_BACK]");
  assertEquals((await f.ota("show-artifact")).stdout.trim(), "factory-image");
});

Deno.test("GRUB: a copy left marked 'editing' by a power cut is not read; the other copy is", async () => {
  await using f = await fixture({ bootloader: "grub" });
  assertEquals((await f.ota("install", await f.rootfsArtifact("release-2"))).code, 0);
  // a cut while copy 1 was being rewritten: its lock still says editing=1, its content is half-new
  await sh(["grub-editenv", `${grubenv(f.device.dir, 1)}/lock`, "set", "editing=1"]);
  await sh(["grub-editenv", `${grubenv(f.device.dir, 1)}/env`, "set", "mender_boot_part=7"]);
  const rollback = await f.ota("rollback");
  assertEquals(rollback.code, 0, rollback.stderr);
  for (const n of [1, 2]) {
    assertEquals(
      (await list(`${grubenv(f.device.dir, n)}/env`)).mender_boot_part,
      "2",
      `copy ${n}`,
    );
    assertEquals((await list(`${grubenv(f.device.dir, n)}/lock`)).editing, "0");
  }
});

Deno.test("GRUB: the environment found through ENV_DIR in grub-mender-grubenv's config", async () => {
  await using f = await fixture({ bootloader: "grub" });
  const envConfig = `${f.dir}/mender_grubenv.config`;
  await Deno.writeTextFile(
    envConfig,
    `# as the package installs it\nENV_DIR=${f.device.dir}/grubenv\n`,
  );
  // keys in another case, a later one overriding GrubEnvDir with "" (not set), as Mender reads
  const text = (await Deno.readTextFile(f.device.config)).replace(
    /\}\s*$/,
    `, "grubenvdir": "", "GRUBENVCONFIG": "${envConfig}"}`,
  );
  await Deno.writeTextFile(f.device.config, text);
  const install = await f.ota("install", await f.rootfsArtifact("release-2"));
  assertEquals(install.code, 0, install.stderr);
  assertEquals((await list(`${grubenv(f.device.dir, 2)}/env`)).upgrade_available, "1");
  assertEquals((await f.boot()).slotId, "release-2 rootfs");
  assertEquals((await f.ota("commit")).code, 0);
  // without the config nothing names the environment: ota says so instead of guessing
  await Deno.remove(envConfig);
  const lost = await f.ota("install", await f.rootfsArtifact("release-3"));
  assertEquals(lost.code, 1);
  assertStringIncludes(lost.stderr, "no GRUB environment was found");
});
