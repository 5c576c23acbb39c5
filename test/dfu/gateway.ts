/**
 * A gateway inside the DFU guest: ota's configuration and data directory, the dfu shim in
 * its modules directory, and artifacts written on the host with ota or mender-artifact.
 */
import { BINARY, ROOT, sh } from "../helpers/mod.ts";
import type { Guest } from "./guest.ts";

export const DEVICE_TYPE = "gateway";

/** Meta-data for the default board of the tests (plain DFU, pid.codes test ids). */
export function boardMeta(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { target: "board", device: "1209:0ad0", alt: 0, ...extra };
}

export interface ArtifactSpec {
  name: string;
  firmware: Uint8Array;
  meta: Record<string, unknown>;
  /** The version it provides as dfu.<target>.version. */
  version: string;
  target?: string;
  /** Write it with the real mender-artifact instead of ota. */
  menderArtifact?: boolean;
}

/** Writes an artifact into the share; returns its path inside the guest. */
export async function writeArtifact(guest: Guest, spec: ArtifactSpec): Promise<string> {
  const dir = `${guest.share}/artifacts/${spec.name}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(`${dir}/firmware.bin`, spec.firmware);
  await Deno.writeTextFile(`${dir}/meta.json`, JSON.stringify(spec.meta));
  const out = `${guest.share}/artifacts/${spec.name}.mender`;
  const provides = `dfu.${spec.target ?? "board"}.version:${spec.version}`;
  const common = [
    ...["-T", "dfu", "-n", spec.name, "-t", DEVICE_TYPE, "-o", out],
    ...["-f", `${dir}/firmware.bin`, "-m", `${dir}/meta.json`, "--provides", provides],
  ];
  if (spec.menderArtifact) {
    await sh([
      "mender-artifact",
      "write",
      "module-image",
      ...common,
      "--software-version",
      spec.version,
    ]);
  } else {
    await sh([BINARY, "artifact", "write", "module-image", ...common, "--no-progress"]);
  }
  return `/share/artifacts/${spec.name}.mender`;
}

/** ota's configuration for the gateway, and the shim installed as its dfu module. */
export async function setupGateway(guest: Guest): Promise<void> {
  guest.put("gw/modules/dfu", await Deno.readFile(`${ROOT}/modules/dfu/dfu`));
  guest.put(
    "gw/mender.conf",
    JSON.stringify({
      ModulesDir: "/share/gw/modules",
      DeviceTypeFile: "/share/gw/device_type",
      ArtifactInfoFile: "/share/gw/artifact_info",
    }),
  );
  guest.put("gw/device_type", `device_type=${DEVICE_TYPE}\n`);
  guest.put("gw/artifact_info", "artifact_name=gateway-factory\n");
  await guest.sh("chmod 755 /share/gw/modules/dfu && mkdir -p /var/lib/ota-gw /var/lib/ota-gw2");
}

/**
 * `ota <command>` on the gateway, with the test's configuration and a data directory
 * (two directories let two updates on two boards run at the same time).
 */
export function otaCommand(command: string, env = "", data = "/var/lib/ota-gw"): string {
  return `${env} ota ${command} --config /share/gw/mender.conf ` +
    `--fallback-config /share/gw/none.conf --data ${data}`;
}
