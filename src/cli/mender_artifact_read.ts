/**
 * `read` output in mender-artifact 3.9's layout, byte for byte: Go's `%s` of a list is
 * `[a b]`, provides and depends are sorted, meta-data is Go's json.Indent with a tab
 * prefix, and a payload file's time is Go's time.String() of its tar mtime.
 */
import { goIndent, goJson } from "../artifact/go_json.ts";
import type { Artifact } from "../artifact/reader.ts";

export interface ReadFile {
  name: string;
  size: number;
  checksum: string;
  mtime?: number;
}

export type SignatureState = "none" | "unverified" | "verified" | "failed";

const signatureText: Record<SignatureState, string> = {
  none: "no signature",
  unverified: "signed but no key for verification provided; " +
    "please use `-k` option for providing verification key",
  verified: "signed and verified correctly",
  failed: "signed; verification using provided key failed",
};

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** Go's time.Time.String() in the local zone: `2006-01-02 15:04:05 -0700 MST`. */
export function goTime(seconds: number): string {
  const date = new Date(seconds * 1000);
  const offset = -date.getTimezoneOffset();
  const utc = offset === 0 && ["", "UTC", "Etc/UTC", undefined].includes(localZone());
  const zone = utc ? "UTC" : new Intl.DateTimeFormat("en-US", { timeZoneName: "short" })
    .formatToParts(date).find((p) => p.type === "timeZoneName")?.value ?? "";
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)} ${zone}`;
}

function localZone(): string | undefined {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** Go's `%s` of a value: lists as `[a b]`. */
function goValue(value: unknown): string {
  return Array.isArray(value) ? `[${value.map(goValue).join(" ")}]` : String(value);
}

function sortedEntries(record: Record<string, unknown> | undefined): [string, unknown][] {
  return Object.entries(record ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function keyValueLines(label: string, record: Record<string, unknown> | undefined): string[] {
  const entries = sortedEntries(record);
  if (!entries.length) return [`    ${label}: Nothing`];
  return [`    ${label}:`, ...entries.map(([k, v]) => `\t${k}: ${goValue(v)}`)];
}

export function menderReadText(
  artifact: Pick<Artifact, "version" | "header">,
  files: ReadFile[][],
  signature: SignatureState,
): string {
  const info = artifact.header.info;
  const lines = [
    "Mender artifact:",
    `  Name: ${info.artifact_provides.artifact_name}`,
    "  Format: mender",
    `  Version: ${artifact.version}`,
    `  Signature: ${signatureText[signature]}`,
    `  Compatible devices: '${goValue(info.artifact_depends.device_type)}'`,
    `  Provides group: ${info.artifact_provides.artifact_group ?? ""}`,
    `  Depends on one of artifact(s): [${(info.artifact_depends.artifact_name ?? []).join(", ")}]`,
    `  Depends on one of group(s): [${(info.artifact_depends.artifact_group ?? []).join(", ")}]`,
    "  State scripts:",
    ...artifact.header.scripts.map((s) => `    ${s.name}`),
    "",
    "Updates:",
  ];
  for (const payload of artifact.header.payloads) {
    const ti = payload.typeInfo;
    lines.push(
      `  ${String(payload.index).padStart(3)}:`,
      `    Type:   ${payload.type ?? "Empty type"}`,
      ...keyValueLines("Provides", ti.artifact_provides),
      ...keyValueLines("Depends", ti.artifact_depends),
    );
    if (ti.clears_artifact_provides) {
      lines.push(`    Clears Provides: ["${ti.clears_artifact_provides.join('", "')}"]`);
    }
    const meta = payload.metaData;
    lines.push(
      meta && Object.keys(meta).length
        ? `    Metadata:\n\t${goIndent(goJson(meta), "\t", "  ")}`
        : "    Metadata: Nothing",
    );
    const list = files[payload.index] ?? [];
    if (!list.length) lines.push("    Files: None");
    else {
      lines.push("    Files:");
      for (const f of list) {
        lines.push(
          `      name:     ${f.name}`,
          `      size:     ${f.size}`,
          `      modified: ${goTime(f.mtime ?? 0)}`,
          `      checksum: ${f.checksum}`,
        );
      }
    }
  }
  return lines.join("\n") + "\n";
}
