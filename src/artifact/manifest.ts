/**
 * The manifest: one `<sha256>  <name>` line per covered file, the same text as
 * `sha256sum` prints. It is what the signature covers, so everything else is trusted
 * only through it.
 */
import { fail } from "../errors.ts";

export type Manifest = ReadonlyMap<string, string>;

const line = /^([0-9a-f]{64}) {2}(\S+)$/;

export function parseManifest(bytes: Uint8Array, maxEntries: number, maxName: number): Manifest {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    fail("MANIFEST_INVALID", "the manifest is not valid UTF-8 text");
  }
  const entries = new Map<string, string>();
  for (const raw of text.split("\n")) {
    if (raw === "") continue;
    const match = line.exec(raw);
    if (!match) {
      fail(
        "MANIFEST_INVALID",
        `the manifest has a malformed line: ${JSON.stringify(raw.slice(0, 120))}`,
      );
    }
    const digest = match[1]!; // both groups are mandatory in `line`
    const name = match[2]!;
    if (name.length > maxName) {
      fail("MANIFEST_INVALID", `a manifest name is longer than ${maxName} characters`);
    }
    if (entries.has(name)) fail("MANIFEST_INVALID", `the manifest lists ${name} twice`);
    entries.set(name, digest);
    if (entries.size > maxEntries) {
      fail("MANIFEST_INVALID", `the manifest has more than ${maxEntries} lines`);
    }
  }
  return entries;
}

/**
 * Formats entries in the order given, one line each. mender-artifact writes the payload
 * files in payload order, then the header, then `version`; its `read` lists the files in
 * manifest order, so the order is part of what a reader sees.
 */
export function formatManifest(entries: Iterable<[name: string, digest: string]>): Uint8Array {
  const lines = [...entries].map(([name, digest]) => `${digest}  ${name}\n`);
  return new TextEncoder().encode(lines.join(""));
}

/** The manifest name of a payload file: `data/0000/rootfs.ext4`. */
export function payloadFileKey(index: number, name: string): string {
  return `data/${payloadIndexName(index)}/${name}`;
}

export function payloadIndexName(index: number): string {
  return String(index).padStart(4, "0");
}

/** Names no manifest lists: it cannot cover itself, its signature or its augment. */
const neverListed = new Set(["manifest", "manifest.sig", "manifest-augment"]);
const dataLine = /^data\/([0-9]{4})\/([^/]+)$/;

/**
 * Checks a manifest's lines against the artifact, as strictly as mender-artifact does (it
 * refuses a line that names nothing it read): each other line names a member that is present,
 * each data line a payload that exists and may carry it. Data lines are matched with the
 * payloads' files when those are read.
 */
export function checkManifestNames(
  manifest: Manifest,
  members: ReadonlySet<string>,
  payloadTypes: readonly (string | null)[],
): void {
  const counts = payloadTypes.map(() => 0);
  for (const name of manifest.keys()) {
    if (neverListed.has(name)) {
      fail("MANIFEST_INVALID", `the manifest lists ${name}, which no manifest may cover`);
    }
    const data = dataLine.exec(name);
    if (!data) {
      if (!members.has(name)) {
        fail(
          "MANIFEST_MISMATCH",
          `the manifest lists ${name}, but the artifact does not contain it`,
        );
      }
      continue;
    }
    const index = Number(data[1]);
    if (index >= payloadTypes.length) {
      fail(
        "MANIFEST_MISMATCH",
        `the manifest lists ${name}, but the artifact has no payload ${index}`,
      );
    }
    if (payloadTypes[index] === null) {
      fail("ARTIFACT_STRUCTURE", `the manifest lists ${name}, but payload ${index} is empty`);
    }
    if (payloadTypes[index] === "rootfs-image" && ++counts[index]! > 1) {
      fail("ARTIFACT_STRUCTURE", `the rootfs-image payload ${index} lists more than one file`);
    }
  }
}

/** The manifest and manifest-augment together; a name in both is refused, as Mender does. */
export function mergeManifests(signed: Manifest, augment: Manifest): Manifest {
  const merged = new Map(signed);
  for (const [name, digest] of augment) {
    if (merged.has(name)) {
      fail(
        "MANIFEST_INVALID",
        `manifest-augment lists ${name} again; it may not change what the manifest covers`,
      );
    }
    merged.set(name, digest);
  }
  return merged;
}
