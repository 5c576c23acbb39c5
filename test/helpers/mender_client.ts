/**
 * The REAL Mender client 3.4 (Debian's mender-client, /usr/bin/mender) on a simulated
 * device made of plain files, so that tests can hold ota and its modules against it.
 *
 * The 3.4 client reads a few compiled-in paths and no environment variables for them, so
 * every run happens in a private mount namespace (`unshare --mount`) where
 *   - DIR/etc/mender is bind-mounted over /etc/mender (mender.conf, artifact_info, rootfs
 *     state scripts), the host's /etc is never written;
 *   - DIR/modules is bind-mounted over /usr/share/mender/modules/v3 (the test's modules);
 *   - DIR/bin is first in PATH (fw_printenv/fw_setenv wrappers that add -c, and for rootfs
 *     devices a `mount` that names the running slot);
 *   - --config, --fallback-config and --data keep the client's state inside DIR/data.
 *
 * Rootfs devices (optional) add two ext4 slot images, a U-Boot environment in a file and
 * loop devices: the client asks the slot size with BLKGETSIZE64, so the idle slot must be
 * a block device, and it recognises the running slot by comparing st_rdev of the device
 * `mount` reports on "/" with st_dev of "/", hence DIR/dev/rootfs-node.
 */
import { BINARY, run, type RunResult, sh } from "./mod.ts";

export const MENDER = "/usr/bin/mender";
const HOST_MODULES = "/usr/share/mender/modules/v3";
const ENV_SIZE = "0x4000";

export interface RootfsOptions {
  /** Size of each slot image (default 16 MiB). */
  sizeMiB?: number;
  /** Files written into both factory slots, path (relative to /) -> content. */
  files?: Record<string, string>;
}

export interface DeviceOptions {
  deviceType?: string;
  /** artifact_name in /etc/mender/artifact_info (default factory-image). */
  artifactName?: string;
  /** Module executables to install: payload type -> path of the executable (copied). */
  modules?: Record<string, string>;
  /** Extra or overriding mender.conf keys. */
  config?: Record<string, unknown>;
  /** Rootfs state scripts for /etc/mender/scripts: name -> content (made executable). */
  rootfsScripts?: Record<string, string>;
  /** Build A/B slots, a U-Boot environment and loop devices (needs /dev/loop-control). */
  rootfs?: RootfsOptions | boolean;
  /** Environment for every client run (merged over the defaults, e.g. CONTAINERS_CONF). */
  env?: Record<string, string>;
  /**
   * Programs (absolute paths) that must run in the test's own mount namespace, not the
   * client's: DIR/bin/<name> wrappers nsenter back. A container engine needs this: the
   * mounts it makes or removes for a container must be the ones every later call sees,
   * as on a device where the client has no namespace of its own.
   */
  hostCommands?: string[];
}

export interface MenderDevice {
  dir: string;
  /** Bind-mounted over /usr/share/mender/modules/v3 while the client runs. */
  modulesDir: string;
  dataDir: string;
  rootfs: boolean;
  env: Record<string, string>;
}

/** True when the real client can run here: the binary, root, and unshare. */
export function menderClientAvailable(): boolean {
  try {
    Deno.statSync(MENDER);
    Deno.statSync(HOST_MODULES);
  } catch {
    return false;
  }
  return Deno.uid() === 0;
}

/** Builds a fresh device in `dir` (which must be empty or absent). */
export async function createMenderDevice(
  dir: string,
  options: DeviceOptions = {},
): Promise<MenderDevice> {
  dir = await Deno.realPath(await ensureDir(dir));
  const device: MenderDevice = {
    dir,
    modulesDir: `${dir}/modules`,
    dataDir: `${dir}/data`,
    rootfs: Boolean(options.rootfs),
    env: { OTA_BIN: BINARY, ...options.env },
  };
  for (const sub of ["bin", "etc/mender/scripts", "data", "ota-data", "modules", "dev"]) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
  }
  const conf: Record<string, unknown> = {
    DeviceTypeFile: `${dir}/data/device_type`,
    // ota-only keys (Mender's client ignores them): the same file serves `ota` runs.
    ModulesDir: `${dir}/modules`,
    ScriptsDir: `${dir}/etc/mender/scripts`,
    ArtifactInfoFile: `${dir}/etc/mender/artifact_info`,
    UpdatePollIntervalSeconds: 1800,
    InventoryPollIntervalSeconds: 28800,
    RetryPollIntervalSeconds: 300,
  };
  if (device.rootfs) {
    conf.RootfsPartA = `${dir}/dev/mmcblk0p2`;
    conf.RootfsPartB = `${dir}/dev/mmcblk0p3`;
    conf.FwEnvConfig = `${dir}/fw_env.config`;
  }
  await writeJson(`${dir}/etc/mender/mender.conf`, { ...conf, ...options.config });
  await Deno.writeTextFile(
    `${dir}/etc/mender/artifact_info`,
    `artifact_name=${options.artifactName ?? "factory-image"}\n`,
  );
  await Deno.writeTextFile(
    `${dir}/data/device_type`,
    `device_type=${options.deviceType ?? "test-device"}\n`,
  );
  for (const [name, content] of Object.entries(options.rootfsScripts ?? {})) {
    await Deno.writeTextFile(`${dir}/etc/mender/scripts/${name}`, content, { mode: 0o755 });
  }
  for (const [type, source] of Object.entries(options.modules ?? {})) {
    await installModule(device, type, source);
  }
  await writeFwWrappers(device);
  for (const command of options.hostCommands ?? []) {
    await Deno.writeTextFile(
      `${dir}/bin/${command.slice(command.lastIndexOf("/") + 1)}`,
      `#!/bin/sh\nexec nsenter --mount=/proc/${Deno.pid}/ns/mnt -- ${command} "$@"\n`,
      { mode: 0o755 },
    );
  }
  if (device.rootfs) {
    await createSlots(device, options.rootfs === true ? {} : options.rootfs as RootfsOptions);
  }
  return device;
}

/** Copies a module executable into the device's modules directory under `type`. */
export async function installModule(device: MenderDevice, type: string, source: string) {
  await Deno.copyFile(source, `${device.modulesDir}/${type}`);
  await Deno.chmod(`${device.modulesDir}/${type}`, 0o755);
}

/**
 * Runs `/usr/bin/mender <args>` on the device; never throws on a non-zero exit.
 * `logLevel` defaults to info (the client logs to stderr).
 */
export async function runMender(
  device: MenderDevice,
  args: string[],
  options: { env?: Record<string, string>; logLevel?: string } = {},
): Promise<RunResult> {
  if (device.rootfs) await ensureLoops(device);
  const { cmd, env } = menderCommand(device, args, options);
  return await run(cmd, { env });
}

/**
 * The command line and environment that run the real client on the device (in its own
 * mount namespace), for callers that run it themselves (benchmarks time it).
 */
export function menderCommand(
  device: MenderDevice,
  args: string[],
  options: { env?: Record<string, string>; logLevel?: string } = {},
): { cmd: string[]; env: Record<string, string> } {
  const mounts = [
    `mount --bind "$DEVDIR/etc/mender" /etc/mender`,
    `mount --bind "$DEVDIR/modules" ${HOST_MODULES}`,
    // The running slot's node carries the host root's device number: stat() only.
    ...(device.rootfs
      ? [`mount --bind "$DEVDIR/dev" "$DEVDIR/dev"`, `mount -o remount,bind,nodev "$DEVDIR/dev"`]
      : []),
  ];
  const cmd = [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--",
    "sh",
    "-c",
    `${mounts.join(" && ")} && exec "$@"`,
    "sh",
    MENDER,
    "--no-syslog",
    "--log-level",
    options.logLevel ?? "info",
    "--config",
    `${device.dir}/etc/mender/mender.conf`,
    "--fallback-config",
    `${device.dir}/data/mender.conf`,
    "--data",
    device.dataDir,
    ...args,
  ];
  const env = {
    ...Deno.env.toObject(),
    ...device.env,
    ...options.env,
    PATH: `${device.dir}/bin:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
    DEVDIR: device.dir,
  };
  return { cmd, env };
}

/**
 * Runs the ota binary's device command `command` (install, commit, rollback, ...) on the
 * same device and configuration, with its own data directory (DIR/ota-data), so that
 * ota and the real client can be held against each other on one simulated board.
 */
export async function runOta(
  device: MenderDevice,
  command: string,
  args: string[] = [],
  options: { env?: Record<string, string> } = {},
): Promise<RunResult> {
  if (device.rootfs) await ensureLoops(device);
  return await run([
    device.env.OTA_BIN ?? BINARY,
    command,
    "--config",
    `${device.dir}/etc/mender/mender.conf`,
    "--fallback-config",
    `${device.dir}/data/mender.conf`,
    "--data",
    `${device.dir}/ota-data`,
    ...args,
  ], {
    env: {
      ...device.env,
      ...options.env,
      PATH: `${device.dir}/bin:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
    },
  });
}

/** Which client drives the device: the real Mender 3.4 or the ota binary. */
export type ClientName = "mender" | "ota";

/** `<client> <command> <args>` on the device: the same test can hold both clients. */
export function runClient(
  client: ClientName,
  device: MenderDevice,
  command: string,
  args: string[] = [],
  options: { env?: Record<string, string> } = {},
): Promise<RunResult> {
  return client === "mender"
    ? runMender(device, [command, ...args], options)
    : runOta(device, command, args, options);
}

/** `show-artifact` of the given client, trimmed. */
export async function showArtifact(
  device: MenderDevice,
  client: ClientName = "mender",
): Promise<string> {
  const result = client === "mender"
    ? await runMender(device, ["show-artifact"], { logLevel: "error" })
    : await runOta(device, "show-artifact");
  if (result.code !== 0) throw new Error(`show-artifact exited ${result.code}: ${result.stderr}`);
  return result.stdout.trim();
}

/** `show-provides` of the given client as key -> value. */
export async function showProvides(
  device: MenderDevice,
  client: ClientName = "mender",
): Promise<Record<string, string>> {
  const result = client === "mender"
    ? await runMender(device, ["show-provides"], { logLevel: "error" })
    : await runOta(device, "show-provides");
  if (result.code !== 0) throw new Error(`show-provides exited ${result.code}: ${result.stderr}`);
  return Object.fromEntries(
    result.stdout.trim().split("\n").filter(Boolean).map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1)];
    }),
  );
}

/** Detaches the loop devices of a rootfs device (safe to call on any device, twice). */
export async function releaseMenderDevice(device: MenderDevice): Promise<void> {
  if (!device.rootfs) return;
  for (const image of ["part_a.img", "part_b.img"]) {
    for (const loop of await loopsOf(`${device.dir}/${image}`)) {
      await run(["losetup", "-d", loop]);
    }
  }
}

// --- U-Boot environment (rootfs devices) ------------------------------------------------

export async function envGet(device: MenderDevice, name: string): Promise<string> {
  const result = await run(["fw_printenv", "-c", `${device.dir}/fw_env.config`, "-n", name]);
  return result.code === 0 ? result.stdout.trim() : "";
}

export async function envSet(device: MenderDevice, values: Record<string, string>) {
  const script = Object.entries(values).map(([k, v]) => `${k}=${v}\n`).join("");
  await sh(["fw_setenv", "-c", `${device.dir}/fw_env.config`, "-s", "-"], { stdin: script });
}

/** The slot (2 = A, 3 = B) the simulated board is running. */
export async function bootedSlot(device: MenderDevice): Promise<string> {
  return (await Deno.readTextFile(`${device.dir}/booted`)).trim();
}

/**
 * One power-on of the board, with U-Boot's boot-count logic as Mender's integration
 * uses it: with upgrade_available=1 count the boot, and past bootlimit switch back to the
 * other slot and clear upgrade_available. Returns the slot that now runs.
 */
export async function bootDevice(device: MenderDevice): Promise<string> {
  let part = await envGet(device, "mender_boot_part");
  if (await envGet(device, "upgrade_available") === "1") {
    const count = Number(await envGet(device, "bootcount") || "0") + 1;
    const limit = Number(await envGet(device, "bootlimit") || "1");
    const values: Record<string, string> = { bootcount: String(count) };
    if (count > limit) {
      part = part === "2" ? "3" : "2";
      Object.assign(values, {
        mender_boot_part: part,
        mender_boot_part_hex: part,
        upgrade_available: "0",
      });
    }
    await envSet(device, values);
  }
  await Deno.writeTextFile(`${device.dir}/booted`, `${part}\n`);
  await ensureLoops(device);
  return part;
}

/** Reads a file out of a slot image (debugfs, no mount needed). */
export async function slotFile(device: MenderDevice, slot: string, path: string) {
  const image = `${device.dir}/${slot === "2" ? "part_a.img" : "part_b.img"}`;
  return await sh(["debugfs", "-R", `cat ${path}`, image]);
}

// --- building blocks ----------------------------------------------------------------------

async function ensureDir(dir: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

async function writeJson(path: string, value: unknown) {
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2) + "\n");
}

async function writeFwWrappers(device: MenderDevice) {
  for (const tool of ["fw_printenv", "fw_setenv"]) {
    await Deno.writeTextFile(
      `${device.dir}/bin/${tool}`,
      `#!/bin/sh\nexec /usr/bin/${tool} -c "${device.dir}/fw_env.config" "$@"\n`,
      { mode: 0o755 },
    );
  }
}

async function createSlots(device: MenderDevice, options: RootfsOptions) {
  const { dir } = device;
  const size = `${options.sizeMiB ?? 16}M`;
  for (const [slot, label] of [["a", "A"], ["b", "B"]]) {
    const root = `${dir}/tmp-rootfs-${slot}`;
    await Deno.mkdir(`${root}/etc`, { recursive: true });
    await Deno.writeTextFile(`${root}/etc/slot-id`, `factory image, slot ${label}\n`);
    for (const [path, content] of Object.entries(options.files ?? {})) {
      const target = `${root}/${path.replace(/^\/+/, "")}`;
      await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(target, content);
    }
    await sh(["truncate", "-s", size, `${dir}/part_${slot}.img`]);
    await sh([
      "mkfs.ext4",
      "-q",
      "-F",
      "-L",
      `rootfs-${slot}`,
      "-d",
      root,
      `${dir}/part_${slot}.img`,
    ]);
    await Deno.remove(root, { recursive: true });
  }
  await Deno.writeTextFile(
    `${dir}/uboot.env.txt`,
    "mender_boot_part=2\nmender_boot_part_hex=2\nupgrade_available=0\nbootcount=0\nbootlimit=1\n",
  );
  await sh(["mkenvimage", "-s", ENV_SIZE, "-o", `${dir}/uboot.env`, `${dir}/uboot.env.txt`]);
  await Deno.writeTextFile(`${dir}/fw_env.config`, `${dir}/uboot.env 0x0 ${ENV_SIZE}\n`);
  await Deno.writeTextFile(`${dir}/booted`, "2\n");
  // The client takes the device `mount` lists on "/" as the running slot.
  await Deno.writeTextFile(
    `${dir}/bin/mount`,
    `#!/bin/sh
if [ $# -eq 0 ]; then
    echo "${dir}/dev/mmcblk0p$(cat "${dir}/booted") on / type ext4 (rw,relatime)"
    /usr/bin/mount | grep -v ' on / type ' || true
    exit 0
fi
exec /usr/bin/mount "$@"
`,
    { mode: 0o755 },
  );
  await ensureLoops(device);
}

async function loopsOf(image: string): Promise<string[]> {
  const out = await run(["losetup", "-j", image, "-O", "NAME", "-n"]);
  return out.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
}

/** Points mmcblk0p2/p3 at the running slot's node and the idle slot's loop device. */
export async function ensureLoops(device: MenderDevice) {
  const { dir } = device;
  const node = `${dir}/dev/rootfs-node`;
  try {
    Deno.statSync(node);
  } catch {
    const [major, minor] = (await sh(["stat", "-c", "%Hd %Ld", "/"])).trim().split(" ");
    await sh(["mknod", "-m", "000", node, "b", major, minor]);
  }
  const booted = await bootedSlot(device);
  for (const [image, slot] of [["part_a.img", "2"], ["part_b.img", "3"]]) {
    let loop = (await loopsOf(`${dir}/${image}`))[0];
    if (!loop) loop = (await sh(["losetup", "-f", "--show", `${dir}/${image}`])).trim();
    const link = `${dir}/dev/mmcblk0p${slot}`;
    await Deno.remove(link).catch(() => {});
    await Deno.symlink(slot === booted ? "rootfs-node" : loop, link);
  }
}
