/**
 * The provides and clears_artifact_provides `ota artifact write` puts in type-info, by
 * mender-artifact 3.9's rules (compared with the real tool for every combination of flags).
 */
import { mergeRecords } from "../records.ts";
import { keyValues } from "./options.ts";

export interface ProvidesOptions {
  artifactName: string;
  provides?: string[];
  clearsProvides?: string[];
  defaultClearsProvides?: boolean;
  softwareName?: string;
  softwareVersion?: string;
  softwareFilesystem?: string;
  defaultSoftwareVersion?: boolean;
}

/**
 * Where on the command line each `-p KEY:` and the last --software-* flag came: when both set
 * the version provide, mender-artifact keeps whichever came later.
 */
export interface FlagOrder {
  at: number;
  provides: Map<string, number>;
  software: number;
}

/**
 * The software version provide, as mender-artifact 3.9 makes it: `<fs>.<name>.version`, the
 * filesystem `rootfs-image` unless one is given, the name the module type (or none for
 * rootfs-image), the value the artifact name. --no-default-software-version drops these
 * defaults, but a name and version given explicitly still make the provide.
 */
function versionProvides(o: ProvidesOptions, moduleType?: string): Record<string, string> {
  const useDefaults = o.defaultSoftwareVersion !== false;
  const name = o.softwareName || (useDefaults ? moduleType : undefined);
  const version = o.softwareVersion || (useDefaults ? o.artifactName : undefined);
  if (!version) return {};
  const key = `${o.softwareFilesystem || "rootfs-image"}${name ? `.${name}` : ""}.version`;
  return { [key]: version };
}

/** The software version provide with the -p ones; of the two for one key, the later flag's. */
export function typeInfoProvides(
  o: ProvidesOptions,
  order: FlagOrder,
  moduleType?: string,
): Record<string, string> {
  const version = versionProvides(o, moduleType);
  const provides = mergeRecords(version, keyValues(o.provides, "-p"));
  for (const [key, value] of Object.entries(version)) {
    if (order.software > (order.provides.get(key) ?? Infinity)) provides[key] = value;
  }
  return provides;
}

/**
 * clears_artifact_provides, as mender-artifact 3.9 makes it: the --clears-provides patterns
 * in order, then (unless --no-default-clears-provides or --no-default-software-version)
 * the pattern of the software version provide, `<fs>.<name>.*`, once; a plain rootfs-image
 * also clears `artifact_group` and the legacy `rootfs_image_checksum`, before it.
 */
export function clearsProvides(o: ProvidesOptions, moduleType?: string): string[] {
  const list = [...(o.clearsProvides ?? [])];
  if (o.defaultClearsProvides === false || o.defaultSoftwareVersion === false) return list;
  const filesystem = o.softwareFilesystem ?? "rootfs-image";
  let name = o.softwareName ? `${o.softwareName}.` : "";
  if (!o.softwareName && moduleType !== undefined) name = `${moduleType}.`;
  if (!o.softwareName && moduleType === undefined && filesystem === "rootfs-image") {
    list.push("artifact_group", "rootfs_image_checksum");
  }
  const own = `${filesystem}.${name}*`;
  if (!list.includes(own)) list.push(own);
  return list;
}
