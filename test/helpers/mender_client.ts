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
import { otaExecutable, run, type RunResult } from "./mod.ts";
import { createSlots, ensureLoops } from "./mender_slots.ts";

export const MENDER = "/usr/bin/mender";
const HOST_MODULES = "/usr/share/mender/modules/v3";

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
  /**
   * Managed mode: DIR/share is bind-mounted over /usr/share/mender (identity/, inventory/,
   * modules/v3), so the client's default paths find the test's scripts and modules.
   */
  managed?: boolean;
  /** Commands the client must never run here (reboot, fw_setenv...): DIR/bin shims that refuse. */
  refuse?: string[];
}

export interface MenderDevice {
  dir: string;
  /** Bind-mounted over /usr/share/mender/modules/v3 while the client runs. */
  modulesDir: string;
  dataDir: string;
  rootfs: boolean;
  managed: boolean;
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
    modulesDir: options.managed ? `${dir}/share/modules/v3` : `${dir}/modules`,
    dataDir: `${dir}/data`,
    rootfs: Boolean(options.rootfs),
    managed: Boolean(options.managed),
    env: { OTA_BIN: otaExecutable(), ...options.env },
  };
  const shared = options.managed ? ["share/identity", "share/inventory", "share/modules/v3"] : [];
  for (
    const sub of ["bin", "etc/mender/scripts", "data", "ota-data", "modules", "dev", ...shared]
  ) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
  }
  const conf: Record<string, unknown> = {
    DeviceTypeFile: `${dir}/data/device_type`,
    // ota-only keys (Mender's client ignores them): the same file serves `ota` runs.
    ModulesDir: device.modulesDir,
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
  for (const command of options.refuse ?? []) {
    await Deno.writeTextFile(
      `${dir}/bin/${command}`,
      `#!/bin/sh\necho "${command} is refused on this test device" >&2\nexit 1\n`,
      { mode: 0o755 },
    );
  }
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
  return namespaceCommand(device, [
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
  ], options.env);
}

/**
 * Any program run in the device's mount namespace: DIR/etc/mender over /etc/mender, the
 * modules (or, for managed devices, DIR/share over /usr/share/mender), DIR/bin first in PATH.
 */
export function namespaceCommand(
  device: MenderDevice,
  argv: string[],
  extraEnv: Record<string, string> = {},
): { cmd: string[]; env: Record<string, string> } {
  const mounts = [
    `mount --bind "$DEVDIR/etc/mender" /etc/mender`,
    device.managed
      ? `mount --bind "$DEVDIR/share" /usr/share/mender`
      : `mount --bind "$DEVDIR/modules" ${HOST_MODULES}`,
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
    ...argv,
  ];
  const env = {
    ...Deno.env.toObject(),
    ...device.env,
    ...extraEnv,
    PATH: `${device.dir}/bin:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
    DEVDIR: device.dir,
  };
  return { cmd, env };
}

/**
 * Runs the ota binary's device command `command` (install, commit, rollback, ...) on the
 * same device and configuration, with its own data directory (DIR/ota-data), so that
 * ota and the real client can be held against each other on one simulated board;
 * `dataDir` names another (Mender's own, for a device switched from one to the other).
 */
export async function runOta(
  device: MenderDevice,
  command: string,
  args: string[] = [],
  options: { env?: Record<string, string>; dataDir?: string } = {},
): Promise<RunResult> {
  if (device.rootfs) await ensureLoops(device);
  return await run([
    device.env.OTA_BIN ?? otaExecutable(),
    command,
    "--config",
    `${device.dir}/etc/mender/mender.conf`,
    "--fallback-config",
    `${device.dir}/data/mender.conf`,
    "--data",
    options.dataDir ?? `${device.dir}/ota-data`,
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
export {
  bootDevice,
  bootedSlot,
  ensureLoops,
  envGet,
  envSet,
  releaseMenderDevice,
  slotFile,
} from "./mender_slots.ts";

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
