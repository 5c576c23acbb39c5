/**
 * Provides and depends: what a device has installed, what an artifact needs, and how a
 * commit changes the former (Mender's rules, artifact-format spec §8).
 */
import type { ArtifactHeader } from "../artifact/header.ts";
import { fail } from "../errors.ts";
import { dataRecord, own } from "../records.ts";

/**
 * Everything the device provides, `artifact_name` and `artifact_group` included; a record
 * without prototype (records.ts), so any key an artifact names is an ordinary key.
 */
export type Provides = Record<string, string>;

export interface DeviceIdentity {
  deviceType: string;
  provides: Provides;
}

/** The artifact's depends: header-info's lists merged with the payloads' type-info. */
export function artifactDepends(header: ArtifactHeader): Record<string, string[]> {
  const info = header.info.artifact_depends;
  const depends = dataRecord<string[]>();
  if (info.artifact_name?.length) depends.artifact_name = info.artifact_name;
  if (info.artifact_group?.length) depends.artifact_group = info.artifact_group;
  for (const payload of header.payloads) {
    for (const [key, value] of Object.entries(payload.typeInfo.artifact_depends ?? {})) {
      depends[key] = Array.isArray(value) ? value : [value];
    }
  }
  return depends;
}

/** Why an artifact does not fit the device, one line per reason; empty when it fits. */
export function incompatibilities(header: ArtifactHeader, device: DeviceIdentity): string[] {
  const reasons: string[] = [];
  const types = header.info.artifact_depends.device_type;
  if (!types.includes(device.deviceType)) {
    reasons.push(
      `it is for device type ${types.join(", ")}, and this device is ${device.deviceType}`,
    );
  }
  for (const [key, wanted] of Object.entries(artifactDepends(header))) {
    const have = own(device.provides, key);
    if (have === undefined) {
      reasons.push(
        `it depends on ${key} (${wanted.join(" or ")}), which this device does not provide`,
      );
    } else if (!wanted.includes(have)) {
      reasons.push(`it depends on ${key} = ${wanted.join(" or ")}, and this device has ${have}`);
    }
  }
  return reasons;
}

/** Refuses an artifact that does not fit, before a byte of its payload is touched. */
export function requireCompatible(header: ArtifactHeader, device: DeviceIdentity): void {
  const reasons = incompatibilities(header, device);
  if (reasons.length) {
    fail(
      "ARTIFACT_INCOMPATIBLE",
      `artifact ${header.info.artifact_provides.artifact_name} does not fit this device: ${
        reasons.join("; ")
      }`,
    );
  }
}

/** `*` matches any run of characters; everything else matches itself; the whole key must match. */
export function clearsPatternMatches(pattern: string, key: string): boolean {
  const regex = new RegExp(
    `^${pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`,
    "s",
  );
  return regex.test(key);
}

/** What the device provides after committing an artifact (Mender's CommitArtifactData rules). */
export function providesAfterCommit(before: Provides, header: ArtifactHeader): Provides {
  let provides = dataRecord(Object.entries(before));
  delete provides.artifact_name;
  delete provides.artifact_group;
  for (const payload of header.payloads) {
    const added = payload.typeInfo.artifact_provides;
    const clears = payload.typeInfo.clears_artifact_provides;
    if (added === undefined && clears === undefined) {
      provides = dataRecord();
      continue;
    }
    const patterns = clears ?? ["*"];
    provides = dataRecord([
      ...Object.entries(provides).filter(([key]) =>
        !patterns.some((p) => clearsPatternMatches(p, key))
      ),
      ...Object.entries(added ?? {}),
    ]);
  }
  provides.artifact_name = header.info.artifact_provides.artifact_name;
  const group = header.info.artifact_provides.artifact_group;
  if (group) provides.artifact_group = group;
  return provides;
}

/** Characters that would split or garble a `key=value` line (and `=` as well, in a key). */
const unsafeInValue = /\p{Cc}/gu;
const unsafeInKey = /[\p{Cc}=]/gu;
const escaped = (c: string) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;

/**
 * One `key=value` line per provide, sorted by key. The reader refuses artifacts whose provides
 * could break these lines; should a store hold one anyway, it is escaped (`\x0a`), so each
 * line still holds exactly one provide.
 */
export function provideLines(provides: Provides): string[] {
  return Object.keys(provides).sort().map((key) =>
    `${key.replace(unsafeInKey, escaped)}=${provides[key]!.replace(unsafeInValue, escaped)}`
  );
}
