/**
 * The running slot when `/` is on no block device (UBI, an overlay, NFS), with the mount
 * table, the kernel command line and the root's device number given to the probe: what
 * is mounted, then root=, then the bootloader's mender_boot_part, as Mender 3.4 falls back.
 * Then the rootfs handler on such a device, with slots in files and the real fw_setenv on
 * a file environment: an install, a commit refused before the reboot (the boot id tells),
 * the commit after it, and the save canary checked on a commit. No root.
 */
import { createBootEnv, envDump } from "../../examples/device/bootenv.ts";
import { configSchema, resolvePaths } from "../../src/device/config.ts";
import { OtaError } from "../../src/errors.ts";
import type { DownloadContext, HandlerContext } from "../../src/handlers/handler.ts";
import { type ActiveProbe, findSlots, rootMountSource } from "../../src/handlers/partitions.ts";
import { rootfsHandler } from "../../src/handlers/rootfs.ts";
import { createLogger } from "../../src/log.ts";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { pseudoRandomBytes, sh, tempDir } from "../helpers/mod.ts";

/** A device number with major 0: an overlay's, UBIFS's, NFS's. */
const ANONYMOUS = 0x2bn;
/** A real disk's (major 254). */
const BLOCK = 0xfe01n;

const mountLine = (source: string, type: string, point = "/") =>
  `27 1 0:43 / ${point} rw,relatime shared:1 - ${type} ${source} rw`;

async function refusal(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await assertRejects(() => promise);
  assert(error instanceof OtaError && error.code === code, String(error));
}

Deno.test("mountinfo: the topmost mount on /, its octal escapes undone", () => {
  const table = [
    mountLine("/dev/mmcblk0p2", "ext4"),
    mountLine("proc", "proc", "/proc"),
    "28 27 0:44 / / rw shared:2 opt:3 - overlay over\\040lay rw,lowerdir=/ro",
  ].join("\n");
  assertEquals(rootMountSource(table), "over lay");
  assertEquals(rootMountSource(mountLine("x", "proc", "/proc")), undefined);
});

Deno.test("/ on no block device: the mount table, root=, then mender_boot_part", async () => {
  const slots = async (a: string, b: string, probe: ActiveProbe) => {
    const found = await findSlots(a, b, {
      rootDev: ANONYMOUS,
      cmdline: "",
      mountInfo: "",
      ...probe,
    });
    return `${found.active.label} by ${found.how}`;
  };
  // UBI: the volume mounted on / names the slot, whatever the environment says
  const ubi = { mountInfo: mountLine("ubi0_1", "ubifs"), bootPart: "0" };
  assertEquals(await slots("ubi0_0", "ubi0_1", ubi), "B by mount");
  assertEquals(await slots("/dev/ubi0_0", "/dev/ubi0_1", ubi), "B by mount");
  // an overlay over a volume root= names
  const overlay = { mountInfo: mountLine("overlay", "overlay"), cmdline: "root=ubi0_0 ro" };
  assertEquals(await slots("ubi0_0", "ubi0_1", { ...overlay, bootPart: "1" }), "A by cmdline");
  // NFS, or an overlay in an initramfs: only the bootloader tells
  const nfs = { mountInfo: mountLine("10.0.0.1:/export", "nfs"), cmdline: "root=/dev/nfs" };
  assertEquals(
    await slots("/dev/mmcblk0p2", "/dev/mmcblk0p3", { ...nfs, bootPart: "3" }),
    "B by bootenv",
  );
  assertEquals(
    await slots("/dev/mmcblk0p2", "/dev/mmcblk0p3", { ...nfs, bootPart: "2" }),
    "A by bootenv",
  );
  // Mender 3.4 would take slot A for a missing or foreign number; ota does not guess
  for (const bootPart of [undefined, "4", "", "03x"]) {
    await refusal(
      findSlots("/dev/mmcblk0p2", "/dev/mmcblk0p3", { ...nfs, rootDev: ANONYMOUS, bootPart }),
      "ACTIVE_PARTITION_UNKNOWN",
    );
  }
});

Deno.test("/ on a block device that is neither slot: refused, whatever the environment says", async () => {
  const probe = { rootDev: BLOCK, cmdline: "", mountInfo: mountLine("/dev/sda1", "ext4") };
  await refusal(
    findSlots("/dev/mmcblk0p2", "/dev/mmcblk0p3", { ...probe, bootPart: "2" }),
    "ACTIVE_PARTITION_UNKNOWN",
  );
});

/** A device whose / is an overlay: slots in files, U-Boot's environment in a file. */
async function overlayDevice(dir: string) {
  const conf = await createBootEnv({ dir, bootloader: "uboot" });
  for (const n of [2, 3]) await Deno.writeFile(`${dir}/mmcblk0p${n}`, new Uint8Array(1 << 20));
  const config = configSchema.parse({
    ...conf,
    RootfsPartA: `${dir}/mmcblk0p2`,
    RootfsPartB: `${dir}/mmcblk0p3`,
  });
  await Deno.mkdir(`${dir}/data`);
  const ctx = {
    config,
    paths: resolvePaths(config, `${dir}/data`),
    log: createLogger("error"),
    payloadIndex: 0,
    current: { artifactName: "factory", deviceType: "board" },
  } as unknown as HandlerContext;
  const probe = {
    rootDev: ANONYMOUS,
    cmdline: "root=/dev/nfs",
    mountInfo: mountLine("overlay", "overlay"),
    bootId: "boot-1",
  };
  return {
    ctx,
    probe,
    handler: rootfsHandler(undefined, probe),
    env: () => envDump({ dir, bootloader: "uboot" }),
  };
}

Deno.test("rootfs on an overlay root: install, commit refused before the reboot, commit after it", async () => {
  await using dir = await tempDir();
  const { ctx, probe, handler, env } = await overlayDevice(dir.path);
  const image = pseudoRandomBytes(64 * 1024, 7);
  const file = {
    name: "rootfs.ext4",
    size: image.length,
    sha256: "",
    stream: new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(image);
        controller.close();
      },
    }),
  };
  await handler.download(
    (async function* () {
      yield file;
    })(),
    ctx as DownloadContext,
  );
  const written = await Deno.readFile(`${dir.path}/mmcblk0p3`);
  assertEquals(written.subarray(0, image.length), image, "slot B (3) got the image");
  assertEquals((await Deno.readFile(`${dir.path}/mmcblk0p2`)).some((b) => b !== 0), false);
  await handler.install(ctx);
  assertEquals([(await env()).mender_boot_part, (await env()).upgrade_available], ["3", "1"]);
  // same boot: mender_boot_part names the next slot, not the running one
  await refusal(handler.commit(ctx), "NOT_REBOOTED");
  await refusal(handler.verifyReboot(ctx), "ROLLED_BACK");
  probe.bootId = "boot-2";
  await handler.verifyReboot(ctx);
  await handler.commit(ctx);
  assertEquals((await env()).upgrade_available, "0");
  await handler.cleanup(ctx);
});

Deno.test("rootfs: the save canary is checked when committing too, not only when installing", async () => {
  await using dir = await tempDir();
  const { ctx, probe, handler } = await overlayDevice(dir.path);
  const fwConfig = ctx.config.FwEnvConfig!;
  await sh(["fw_setenv", "-c", fwConfig, "mender_boot_part", "3"]);
  await sh(["fw_setenv", "-c", fwConfig, "upgrade_available", "1"]);
  await sh(["fw_setenv", "-c", fwConfig, "mender_check_saveenv_canary", "1"]);
  probe.bootId = "later";
  await refusal(handler.commit(ctx), "BOOTENV_MISMATCH");
  await sh(["fw_setenv", "-c", fwConfig, "mender_saveenv_canary", "1"]);
  await handler.commit(ctx);
});
