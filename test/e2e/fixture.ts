/**
 * A simulated device for the end-to-end tests, driven only through the compiled binary
 * (what ships), with rootfs images and artifacts made for it.
 */
import { boot, type BootResult } from "../../examples/device/bootloader.ts";
import {
  type Device,
  type DeviceOptions,
  envDump,
  makeDevice,
  makeRootfs,
  releaseLoops,
  slotImage,
} from "../../examples/device/device.ts";
import { ota, type RunResult, sha256File } from "../helpers/mod.ts";

export interface Fixture extends AsyncDisposable {
  device: Device;
  dir: string;
  /** Runs `ota <command> --config ... --data ... args`. */
  ota(command: string, ...args: string[]): Promise<RunResult>;
  boot(): Promise<BootResult>;
  env(): Promise<Record<string, string>>;
  /** A rootfs-image artifact whose image holds /etc/slot-id = `slotId`. */
  rootfsArtifact(
    name: string,
    options?: { slotId?: string; extra?: string[]; sizeMiB?: number; deviceType?: string },
  ): Promise<string>;
  slotHash(part: number): Promise<string>;
  /** A summary for assertions: env vars, running slot, installed artifact name. */
  state(): Promise<
    { part: string | undefined; upgrade: string | undefined; booted: string; artifact: string }
  >;
}

let counter = 0;

export async function fixture(options: DeviceOptions = {}): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "ota-e2e-" });
  const device = await makeDevice(`${dir}/device`, { partitionMiB: 16, ...options });
  const deviceArgs = ["--config", device.config, "--data", device.data];
  const f: Fixture = {
    device,
    dir,
    ota: (command, ...args) => ota([command, ...deviceArgs, ...args]),
    boot: () => boot(device),
    env: () => envDump(device),
    async rootfsArtifact(name, o = {}) {
      const image = `${dir}/${name}-${++counter}.ext4`;
      await makeRootfs(image, o.sizeMiB ?? 16, {
        "etc/slot-id": `${o.slotId ?? name} rootfs\n`,
        "etc/release": `${name}\n`,
      });
      const artifact = `${dir}/${name}-${counter}.mender`;
      const result = await ota([
        "artifact",
        "write",
        "rootfs-image",
        "-n",
        name,
        "-t",
        o.deviceType ?? device.deviceType,
        "-f",
        image,
        "-o",
        artifact,
        ...(o.extra ?? []),
      ]);
      if (result.code !== 0) throw new Error(`artifact write failed: ${result.stderr}`);
      return artifact;
    },
    slotHash: (part) => sha256File(slotImage(device.dir, part)),
    async state() {
      const env = await envDump(device);
      const shown = await f.ota("show-artifact");
      return {
        part: env.mender_boot_part,
        upgrade: env.upgrade_available,
        booted: (await Deno.readTextFile(`${device.dir}/booted`)).trim(),
        artifact: shown.stdout.trim(),
      };
    },
    async [Symbol.asyncDispose]() {
      await releaseLoops(device).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  return f;
}
