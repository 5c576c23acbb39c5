/**
 * What this device is, for choosing among artifacts that peers offer. The device type comes
 * from Mender's device_type file (`device_type=<type>`) or a flag. Provides are empty until
 * the install engine's store exists; `deviceForPeers` is the one function to point at it.
 */
import { readFile } from "node:fs/promises";
import { fail } from "../errors.ts";
import type { DeviceIdentity, Provides } from "../device/provides.ts";

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
  /** What the device has installed; from the device store once it exists. */
  provides?: Provides;
}

export async function deviceForPeers(source: DeviceSource): Promise<DeviceIdentity> {
  const provides = source.provides ?? {};
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
