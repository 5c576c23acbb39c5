/**
 * What this device is, for choosing among artifacts that peers offer: the device type from
 * Mender's device_type file (`device_type=<type>`) or a flag, and what it provides from the
 * device store in the data directory (empty on a device ota never updated).
 */
import { readFile } from "node:fs/promises";
import { fail } from "../errors.ts";
import type { DeviceIdentity, Provides } from "../device/provides.ts";
import { loadDeviceStore } from "../device/carry_over.ts";
import { mergeRecords } from "../records.ts";

export const DEFAULT_DEVICE_TYPE_FILE = "/var/lib/mender/device_type";

/** `device_type=<type>` (Mender's format); other lines are ignored. */
export function parseDeviceTypeFile(text: string, path: string): string {
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*device_type\s*=\s*(.*?)\s*$/.exec(line);
    if (match && match[1]) return match[1];
  }
  fail("DEVICE_TYPE_MISSING", `${path} has no device_type=<type> line`);
}

export interface DeviceSource {
  deviceType?: string;
  deviceTypeFile?: string;
  /** What the device has installed, if known already. */
  provides?: Provides;
  /** The data directory holding the device store; read when `provides` is not given. */
  dataDir?: string;
}

async function storedProvides(dataDir: string): Promise<Provides> {
  const store = await loadDeviceStore(dataDir);
  const provides: Provides = mergeRecords(store.provides);
  if (store.artifactName) provides.artifact_name = store.artifactName;
  if (store.artifactGroup) provides.artifact_group = store.artifactGroup;
  return provides;
}

export async function deviceForPeers(source: DeviceSource): Promise<DeviceIdentity> {
  const provides = source.provides ??
    (source.dataDir ? await storedProvides(source.dataDir) : {});
  if (source.deviceType) return { deviceType: source.deviceType, provides };
  const path = source.deviceTypeFile ?? DEFAULT_DEVICE_TYPE_FILE;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    fail(
      "DEVICE_TYPE_MISSING",
      `cannot read the device type from ${path} (${
        (error as NodeJS.ErrnoException).code
      }); give --device-type or --device-type-file`,
    );
  }
  return { deviceType: parseDeviceTypeFile(text, path), provides };
}
