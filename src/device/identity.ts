/**
 * What this device is and what it has installed, read in one place for every command
 * (install, commit, show-artifact, show-provides, peers, install --from-peer): the device type
 * from Mender's device_type file, and the installed artifact's name, group and provides from
 * the device store, with /etc/mender/artifact_info's name before the first update (Mender's
 * fallback), else "unknown". The commit that changes them is here too.
 */
import type { HeaderInfo, TypeInfo } from "../artifact/schema.ts";
import { fail } from "../errors.ts";
import { readTextIfExists } from "../files.ts";
import type { Paths } from "./config.ts";
import { type DeviceIdentity, type Provides, providesAfterCommit } from "./provides.ts";
import { readArtifactInfo } from "./artifact_info.ts";
import { loadDeviceStore } from "./carry_over.ts";
import { mergeRecords } from "../records.ts";
import type { StoreData } from "./store.ts";

/** The files the identity is read from (resolvePaths gives them from mender.conf and --data). */
export type IdentityFiles = Pick<Paths, "dataDir" | "deviceTypeFile" | "artifactInfoFile">;

export interface Installed {
  artifactName: string;
  artifactGroup?: string;
  /** Everything the device provides, `artifact_name` and `artifact_group` included. */
  provides: Provides;
}

/** The device_type file as Mender reads it: `device_type=<type>` on one line, nothing else. */
export function parseDeviceType(text: string, path: string): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const first = lines[0]?.trim() ?? "";
  if (!first.startsWith("device_type=") || first.length === "device_type=".length) {
    fail("DEVICE_TYPE_INVALID", `${path} must hold one line 'device_type=<type>'`);
  }
  if (lines.length > 1) fail("DEVICE_TYPE_INVALID", `${path} has more than one line`);
  return first.slice("device_type=".length);
}

/** The installed artifact. Every reader of name, group or provides goes through here. */
export async function readInstalled(files: IdentityFiles): Promise<Installed> {
  const store = await loadDeviceStore(files.dataDir);
  const info = store.artifactName ? undefined : await readArtifactInfo(files.artifactInfoFile)
    .catch(() => undefined);
  const artifactName = store.artifactName || info?.name || "unknown";
  const provides = mergeRecords(store.provides, { artifact_name: artifactName });
  if (store.artifactGroup) provides.artifact_group = store.artifactGroup;
  return { artifactName, artifactGroup: store.artifactGroup, provides };
}

/**
 * `show-artifact` as Mender 3.4 answers it: the stored name, else artifact_info's, and 3.4's
 * error when that file is missing or broken.
 */
export async function showArtifactName(files: IdentityFiles): Promise<string> {
  const stored = (await loadDeviceStore(files.dataDir)).artifactName;
  if (stored) return stored;
  const info = await readArtifactInfo(files.artifactInfoFile);
  if (!info.name) fail("ARTIFACT_INFO_INVALID", info.problem ?? "no artifact name");
  return info.name;
}

/** `show-provides` as Mender 3.4 prints it: what the store holds, nothing before an update. */
export async function storedProvides(files: IdentityFiles): Promise<Provides> {
  const store = await loadDeviceStore(files.dataDir);
  const provides = mergeRecords(store.provides);
  if (store.artifactName) provides.artifact_name = store.artifactName;
  if (store.artifactGroup) provides.artifact_group = store.artifactGroup;
  return provides;
}

export async function readDeviceType(files: IdentityFiles): Promise<string> {
  const path = files.deviceTypeFile;
  const text = await readTextIfExists(path).catch((error) => {
    fail("DEVICE_TYPE_MISSING", `cannot read ${path}: ${(error as Error).message}`);
  });
  if (text === undefined) {
    fail("DEVICE_TYPE_MISSING", `${path} does not exist; it must say device_type=<your board>`);
  }
  return parseDeviceType(text, path);
}

/** Device type and provides, for judging an artifact; `deviceType` stands in for the file. */
export async function readIdentity(
  files: IdentityFiles,
  override: { deviceType?: string } = {},
): Promise<DeviceIdentity> {
  const installed = await readInstalled(files);
  const deviceType = override.deviceType ?? await readDeviceType(files);
  return { deviceType, provides: installed.provides };
}

/**
 * The commit of an artifact's name, group and provides (Mender's rules, provides.ts), into
 * the store in memory: the caller saves it in the same write that records the commit.
 */
export function commitInstalled(
  store: StoreData,
  info: HeaderInfo,
  payloads: { type: string | null; typeInfo: TypeInfo }[],
): void {
  const provides = providesAfterCommit(store.provides, {
    info,
    infoBytes: new Uint8Array(0),
    scripts: [],
    payloads: payloads.map((p, index) => ({
      index,
      type: p.type,
      typeInfo: p.typeInfo,
      typeInfoBytes: new Uint8Array(0),
    })),
  });
  store.artifactName = provides.artifact_name;
  store.artifactGroup = provides.artifact_group;
  delete provides.artifact_name;
  delete provides.artifact_group;
  store.provides = provides;
}
