/**
 * ota beside grub-mender-grubenv's real grub-mender-grubenv-print/-set. Debian does not
 * package them, so the test runs where OTA_GRUB_MENDER_GRUBENV names that script (the file
 * grub-mender-grubenv-print from mendersoftware/grub-mender-grubenv), as root.
 *
 * The tool has its paths built in (/boot/..., /var/lock), so each run of it happens in a
 * private mount namespace with the test's tree bound over /boot and /var/lock; ota reads
 * the same tree through `root`. Checked: each reads what the other wrote (and the tool
 * finds nothing to repair after ota), a copy broken by a cut is repaired to the same bytes
 * by both, ota through the tools, and the one lock they share.
 */
import { bootEnvFor } from "../../src/handlers/bootloader/mod.ts";
import { configSchema } from "../../src/device/config.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { listGrubEnv, makeGrubEnvDir, sha256Hex } from "../helpers/grubenv.ts";
import { run, sh, tempDir } from "../helpers/mod.ts";

const TOOL = Deno.env.get("OTA_GRUB_MENDER_GRUBENV");
const ENV_DIR = "/boot/efi/grub-mender-grubenv";
const FILES = ["env", "lock", "lock.sha256sum"].flatMap((f) =>
  [1, 2].map((n) => `mender_grubenv${n}/${f}`)
);

/** A device tree with the tool installed as itself and as wrappers that enter the namespace. */
async function device(root: string) {
  await makeGrubEnvDir(`${root}${ENV_DIR}`, { mender_boot_part: "2", upgrade_available: "0" });
  await Deno.mkdir(`${root}/var/lock`, { recursive: true });
  await Deno.mkdir(`${root}/bin`);
  await Deno.mkdir(`${root}/wrap`);
  await Deno.copyFile(TOOL!, `${root}/bin/grub-mender-grubenv-print`);
  await Deno.chmod(`${root}/bin/grub-mender-grubenv-print`, 0o755);
  await Deno.symlink("grub-mender-grubenv-print", `${root}/bin/grub-mender-grubenv-set`);
  for (const name of ["grub-mender-grubenv-print", "grub-mender-grubenv-set"]) {
    await Deno.writeTextFile(
      `${root}/wrap/${name}`,
      `#!/bin/sh\nexec unshare -m sh -c 'mount --bind "$0/boot" /boot && ` +
        `mount --bind "$0/var/lock" /var/lock && exec "$0/bin/${name}" "$@"' ${root} "$@"\n`,
      { mode: 0o755 },
    );
  }
  const tool = (name: "print" | "set", stdin?: string) =>
    run([`${root}/wrap/grub-mender-grubenv-${name}`, ...(stdin ? ["-s", "-"] : [])], { stdin });
  const hashes = () => Promise.all(FILES.map((f) => sha256Hex(`${root}${ENV_DIR}/${f}`)));
  return { tool, hashes, dir: `${root}${ENV_DIR}` };
}

const direct = (root: string) =>
  bootEnvFor(configSchema.parse({ Bootloader: "grub" }), { root, searchPath: "" });
const throughTools = (root: string) =>
  bootEnvFor(configSchema.parse({ Bootloader: "auto" }), { root, searchPath: `${root}/wrap` });

const ignore = TOOL === undefined || Deno.uid() !== 0;

Deno.test(
  { name: "real grub-mender-grubenv: each reads what the other wrote", ignore },
  async () => {
    await using tmp = await tempDir();
    const d = await device(tmp.path);
    await direct(tmp.path).write({ mender_boot_part: "3", upgrade_available: "1", bootcount: "0" });
    const before = await d.hashes();
    const printed = await d.tool("print");
    assertEquals(printed.code, 0, printed.stderr);
    assertEquals(printed.stdout.trim().split("\n").sort(), [
      "bootcount=0",
      "mender_boot_part=3",
      "upgrade_available=1",
    ]);
    assertEquals(await d.hashes(), before, "the tool found nothing to repair");
    const set = await d.tool("set", "bootcount 1\nupgrade_available 0\n");
    assertEquals(set.code, 0, set.stderr);
    for (const n of [1, 2]) {
      assertEquals((await listGrubEnv(`${d.dir}/mender_grubenv${n}/env`)).bootcount, "1");
    }
    assertEquals((await direct(tmp.path).read()).upgrade_available, "0");

    const tools = throughTools(tmp.path);
    assertEquals(tools.kind, "grub");
    await tools.write({ mender_boot_part: "2", bootcount: "0" });
    assertEquals((await direct(tmp.path).read()).mender_boot_part, "2");
    assertEquals((await d.tool("print")).stdout.includes("mender_boot_part=2"), true);
  },
);

Deno.test(
  { name: "real grub-mender-grubenv: a copy a cut broke is repaired alike", ignore },
  async () => {
    await using tmp = await tempDir();
    const [theirs, ours] = [await device(`${tmp.path}/a`), await device(`${tmp.path}/b`)];
    for (const d of [theirs, ours]) {
      // the cut came while copy 1 was written: lock editing=1, env half new
      await sh(["grub-editenv", `${d.dir}/mender_grubenv1/lock`, "set", "editing=1"]);
      await sh(["grub-editenv", `${d.dir}/mender_grubenv1/env`, "set", "mender_boot_part=3"]);
    }
    assertEquals((await theirs.tool("set", "bootcount 1\n")).code, 0);
    await direct(`${tmp.path}/b`).write({ bootcount: "1" });
    for (const file of FILES.filter((f) => !f.endsWith("sha256sum"))) {
      assertEquals(
        await sha256Hex(`${ours.dir}/${file}`),
        await sha256Hex(`${theirs.dir}/${file}`),
        file,
      );
    }
    for (const d of [theirs, ours]) {
      for (const n of [1, 2]) {
        const sum =
          (await Deno.readTextFile(`${d.dir}/mender_grubenv${n}/lock.sha256sum`)).split(" ")[0];
        assertEquals(sum, await sha256Hex(`${d.dir}/mender_grubenv${n}/lock`));
      }
    }
    assertEquals((await listGrubEnv(`${ours.dir}/mender_grubenv1/env`)).mender_boot_part, "2");
  },
);

Deno.test(
  { name: "real grub-mender-grubenv: ota and the tool share one lock", ignore },
  async () => {
    await using tmp = await tempDir();
    const d = await device(tmp.path);
    const hold = (seconds: number) =>
      new Deno.Command("flock", {
        args: [`${tmp.path}/var/lock/grub-mender-grubenv-set.lock`, "sleep", String(seconds)],
      }).spawn();
    let holder = hold(3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const busy = await d.tool("set", "bootcount 1\n");
    assertEquals(busy.code, 1, "the premise: the tool gives up after 1 s");
    assert(busy.stderr.includes("can't acquire flock"), busy.stderr);
    let started = Date.now();
    await direct(tmp.path).write({ bootcount: "1" });
    assert(Date.now() - started >= 1000, "ota's own write waited for the lock");
    await holder.status;
    holder = hold(2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    started = Date.now();
    await throughTools(tmp.path).write({ bootcount: "0" });
    assert(Date.now() - started >= 1000, "ota retried the tool while the lock was held");
    await holder.status;
    assertEquals((await direct(tmp.path).read()).bootcount, "0");
  },
);
