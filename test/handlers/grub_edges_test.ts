/**
 * GRUB environment edges, with the real grub-editenv on files in a device tree made for
 * the test (`root`): where the environment is found (/etc/mender_grubenv.config's ENV_DIR,
 * the default and the legacy directories, in grub-mender-grubenv's order), the order and
 * the syncs of a write, a broken copy restored first, the lock file, and grub-mender-grubenv's
 * own tools used when they are installed (stand-ins here; the interop test has the real
 * ones). No root.
 */
import { configSchema } from "../../src/device/config.ts";
import { OtaError } from "../../src/errors.ts";
import { grubEnv } from "../../src/handlers/bootloader/grub.ts";
import { bootEnvFor } from "../../src/handlers/bootloader/mod.ts";
import { PROBE } from "../../src/handlers/bootloader/script_env.ts";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import {
  listGrubEnv as list,
  makeGrubEnvDir as makeEnvDir,
  sha256Hex,
} from "../helpers/grubenv.ts";
import { sh, tempDir } from "../helpers/mod.ts";

const grubConfig = (extra: Record<string, unknown> = {}) =>
  configSchema.parse({ Bootloader: "grub", ...extra });
const part = (root: string, extra: Record<string, unknown> = {}) =>
  bootEnvFor(grubConfig(extra), { root, searchPath: "" }).read().then((e) => e.mender_boot_part);

Deno.test("GRUB location: ENV_DIR in the config (its last line), else the directories in order", async () => {
  await using dir = await tempDir();
  const root = dir.path;
  const places = {
    "/boot/efi/grub-mender-grubenv": "11",
    "/boot/grub/grub-mender-grubenv": "12",
    "/boot/efi/EFI/BOOT": "13",
    "/boot/grub": "14",
    "/data/env": "15",
    "/data/other": "16",
  };
  for (const [place, n] of Object.entries(places)) {
    await makeEnvDir(`${root}${place}`, { mender_boot_part: n });
  }
  await Deno.mkdir(`${root}/etc`);
  const conf = `${root}/etc/mender_grubenv.config`;
  await Deno.writeTextFile(
    conf,
    "ENV_DIR=/data/other\nENV_DIRS=/x\n# ENV_DIR=/y\nENV_DIR = /data/env\n",
  );
  assertEquals(await part(root), "15", "the last ENV_DIR line");
  await Deno.writeTextFile(conf, "ENV_DIR=/data/env\nENV_DIR=\n");
  assertEquals(await part(root), "11", "an empty last ENV_DIR means the defaults");
  await Deno.writeTextFile(`${root}/other.config`, "ENV_DIR=/data/other\n");
  assertEquals(
    await part(root, { GrubEnvConfig: `${root}/other.config` }),
    "16",
    "GrubEnvConfig names another config file",
  );
  assertEquals(await part(root, { GrubEnvDir: `${root}/data/env` }), "15", "GrubEnvDir wins");
  await Deno.remove(conf);
  // each default counts as a directory; each legacy one only if it holds mender_grubenv1
  const gone: string[] = [];
  for (const [place, n] of Object.entries(places).slice(0, 4)) {
    assertEquals(await part(root), n, `with ${gone.join(", ") || "all"} present`);
    await Deno.remove(`${root}${place}/mender_grubenv1`, { recursive: true });
    await Deno.remove(`${root}${place}/mender_grubenv2`, { recursive: true });
    gone.push(place);
    if (place.endsWith("grub-mender-grubenv")) await Deno.remove(`${root}${place}`);
  }
  const none = await assertRejects(() => part(root));
  assert(none instanceof OtaError && none.code === "CONFIG_INVALID", String(none));
});

Deno.test("GRUB location: auto picks GRUB where an environment is found, else U-Boot", async () => {
  await using dir = await tempDir();
  const auto = configSchema.parse({ Bootloader: "auto" });
  assertEquals(bootEnvFor(auto, { root: dir.path, searchPath: "" }).kind, "uboot");
  await makeEnvDir(`${dir.path}/boot/grub`, { mender_boot_part: "2" });
  assertEquals(bootEnvFor(auto, { root: dir.path, searchPath: "" }).kind, "grub");
});

Deno.test("GRUB write: copy 2, then copy 1, lock-env-lock, each file synced before the next", async () => {
  await using dir = await tempDir();
  const envDir = `${dir.path}/env`;
  await makeEnvDir(envDir, { mender_boot_part: "2", upgrade_available: "0", bootcount: "0" });
  const log = `${dir.path}/steps.log`;
  const editenv = `${dir.path}/grub-editenv`;
  await Deno.writeTextFile(
    editenv,
    `#!/bin/sh\n[ "$2" = list ] || echo "edit \${1#${envDir}/} $2 $3" >> ${log}\nexec grub-editenv "$@"\n`,
    { mode: 0o755 },
  );
  const env = grubEnv(configSchema.parse({ GrubEditenv: editenv }), envDir, 10_000, {
    lockFile: `${dir.path}/lock`,
    sync: (path) =>
      Deno.writeTextFile(log, `sync ${path.slice(envDir.length + 1)}\n`, { append: true }),
  });
  await env.write({ mender_boot_part: "3", upgrade_available: "1", bootcount: null });
  const steps = (n: number) => [
    `edit mender_grubenv${n}/lock set editing=1`,
    `sync mender_grubenv${n}/lock`,
    `edit mender_grubenv${n}/env set mender_boot_part=3`,
    `sync mender_grubenv${n}/env`,
    `edit mender_grubenv${n}/env unset bootcount`,
    `sync mender_grubenv${n}/env`,
    `edit mender_grubenv${n}/lock set editing=0`,
    `sync mender_grubenv${n}/lock`,
  ];
  assertEquals((await Deno.readTextFile(log)).trim().split("\n"), [...steps(2), ...steps(1)]);
  for (const n of [1, 2]) {
    assertEquals(await list(`${envDir}/mender_grubenv${n}/env`), {
      mender_boot_part: "3",
      upgrade_available: "1",
    });
  }
});

Deno.test("GRUB: a copy a cut left broken is not read, and is restored from the other before a write", async () => {
  await using dir = await tempDir();
  const envDir = `${dir.path}/env`;
  await makeEnvDir(envDir, { mender_boot_part: "2", upgrade_available: "0" });
  const one = `${envDir}/mender_grubenv1`, two = `${envDir}/mender_grubenv2`;
  const env = grubEnv(configSchema.parse({}), envDir, 10_000, { lockFile: `${dir.path}/lock` });
  // copy 1's lock says editing=0 but no longer matches its checksum: not whole
  await sh(["grub-editenv", `${one}/env`, "set", "mender_boot_part=9", "junk=1"]);
  await sh(["grub-editenv", `${one}/lock`, "set", "stray=1"]);
  assertEquals((await env.read()).mender_boot_part, "2", "copy 2 is read");
  await env.write({ upgrade_available: "1" });
  assertEquals(await Deno.readFile(`${one}/env`), await Deno.readFile(`${two}/env`));
  assertEquals(await list(`${one}/env`), { mender_boot_part: "2", upgrade_available: "1" });
  const sum = (await Deno.readTextFile(`${one}/lock.sha256sum`)).split(" ")[0];
  assertEquals(sum, await sha256Hex(`${one}/lock`));
  // both marked as being edited: nothing to trust, nothing is written
  await sh(["grub-editenv", `${one}/lock`, "set", "editing=1"]);
  await sh(["grub-editenv", `${two}/lock`, "set", "editing=1"]);
  for (const step of [() => env.read(), () => env.write({ upgrade_available: "0" })]) {
    const error = await assertRejects(step);
    assert(error instanceof OtaError && /^BOOTENV_(READ|WRITE)$/.test(error.code), String(error));
  }
  assertEquals((await list(`${two}/env`)).upgrade_available, "1");
});

Deno.test("GRUB: ota waits for grub-mender-grubenv's lock, and gives up while it is held", async () => {
  await using dir = await tempDir();
  const envDir = `${dir.path}/env`, lockFile = `${dir.path}/lock`;
  await makeEnvDir(envDir, { mender_boot_part: "2" });
  const holder = (seconds: number) =>
    new Deno.Command("flock", { args: [lockFile, "sleep", String(seconds)] }).spawn();
  const held = holder(1);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = Date.now();
  await grubEnv(configSchema.parse({}), envDir, 10_000, { lockFile }).write({ bootcount: "1" });
  assert(Date.now() - started >= 600, `the write did not wait: ${Date.now() - started} ms`);
  await held.status;
  assertEquals((await list(`${envDir}/mender_grubenv1/env`)).bootcount, "1");

  const stuck = holder(30);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const env = grubEnv(configSchema.parse({}), envDir, 10_000, { lockFile, lockWaitMs: 300 });
  const error = await assertRejects(() => env.write({ bootcount: "0" }));
  assert(error instanceof OtaError && error.code === "BOOTENV_LOCKED", String(error));
  stuck.kill();
  await stuck.status;
  assertEquals((await list(`${envDir}/mender_grubenv1/env`)).bootcount, "1");
});

Deno.test("grub-mender-grubenv's tools, when installed, are used, with Mender's probe; a busy lock is retried", async () => {
  await using dir = await tempDir();
  const envFile = `${dir.path}/env`, log = `${dir.path}/set.log`, tries = `${dir.path}/tries`;
  await sh(["grub-editenv", envFile, "set", "mender_boot_part=2", "upgrade_available=0"]);
  const bin = `${dir.path}/bin`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    `${bin}/grub-mender-grubenv-print`,
    `#!/bin/sh\ngrub-editenv ${envFile} list\n`,
    {
      mode: 0o755,
    },
  );
  // like the real one: `key value` (first run of spaces) or key=value; lock busy twice
  await Deno.writeTextFile(
    `${bin}/grub-mender-grubenv-set`,
    `#!/bin/sh
echo x >> ${tries}; [ $(wc -l < ${tries}) -le 2 ] && { echo "ERROR: can't acquire flock()." >&2; exit 1; }
s=$(cat); printf '%s\\n--\\n' "$s" >> ${log}
printf '%s\\n' "$s" | sed -ne '/^#/n; s/  */=/; /=/!s/$/=/; p' | while read -r kv; do grub-editenv ${envFile} set "$kv"; done
`,
    { mode: 0o755 },
  );
  const env = bootEnvFor(configSchema.parse({ Bootloader: "auto" }), {
    root: dir.path,
    searchPath: bin,
  });
  assertEquals(env.kind, "grub");
  assertEquals((await env.read()).mender_boot_part, "2");
  await env.write({ mender_boot_part: "3", upgrade_available: "1" });
  const sent = (await Deno.readTextFile(log)).split("\n--\n").filter(Boolean);
  assertEquals(sent, [`${PROBE} 1`, `${PROBE} `, "mender_boot_part 3\nupgrade_available 1"]);
  assertEquals(
    (await Deno.readTextFile(tries)).trim().split("\n").length,
    5,
    "two busy, three sent",
  );
  const now = await list(envFile);
  assertEquals([now.mender_boot_part, now.upgrade_available, now[PROBE]], ["3", "1", ""]);
});
