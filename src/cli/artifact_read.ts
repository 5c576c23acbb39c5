/** `ota artifact read` and `ota artifact validate`: inspect and check an artifact. */
import { promises as fs } from "node:fs";
import process from "node:process";
import { Command } from "commander";
import { openArtifact } from "../artifact/reader.ts";
import type { Artifact } from "../artifact/reader.ts";
import { fail } from "../errors.ts";
import { readFileStream } from "../files.ts";
import { counting } from "../streams.ts";
import { verifyManifest } from "../artifact/signature.ts";
import { isMenderArtifact } from "./dialect.ts";
import { menderReadText, type SignatureState } from "./mender_artifact_read.ts";
import { collect, loadVerifyKeys, parseSize } from "./options.ts";
import { createProgress, type ProgressMode } from "./progress.ts";

interface FileSummary {
  name: string;
  size: number;
  checksum: string;
  mtime?: number;
  /** Listed in manifest-augment: checksummed, not signed. */
  augmented?: true;
}

interface ReadOptions {
  key?: string[];
  json?: boolean;
  progress?: boolean;
  maxPayloadSize?: string;
}

/** Reads and verifies the whole artifact, collecting what `read` prints. */
async function inspect(
  path: string,
  o: ReadOptions,
  progressMode: ProgressMode,
  verify = true,
) {
  const { size } = await fs.stat(path).catch((error) =>
    fail("FILE_READ", `cannot read ${path}: ${(error as Error).message}`)
  );
  const progress = createProgress(o.progress === false ? "none" : progressMode);
  progress.step("verify", size);
  const input = counting(readFileStream(path), (n) => progress.update(n));
  const artifact = await openArtifact(input, {
    verifyKeys: verify && o.key?.length ? loadVerifyKeys(o.key) : undefined,
    limits: o.maxPayloadSize ? { payloadBytes: parseSize(o.maxPayloadSize) } : undefined,
  });
  const files: FileSummary[][] = [];
  try {
    for await (const payload of artifact.payloads()) {
      const list: FileSummary[] = (files[payload.index] = []);
      for await (const file of payload.files()) {
        for await (const _ of file.stream) { /* hashed while it passes */ }
        const { name, size, sha256: checksum, mtime, augmented } = file;
        list.push({ name, size, checksum, mtime, ...(augmented ? { augmented } : {}) });
      }
    }
    await artifact.finish();
  } catch (error) {
    await artifact.cancel(error);
    throw error;
  }
  progress.done();
  return { artifact, files, size };
}

function summary(path: string, artifact: Artifact, files: FileSummary[][], size: number) {
  const info = artifact.header.info;
  return {
    path,
    size,
    name: info.artifact_provides.artifact_name,
    format: "mender",
    version: artifact.version,
    compression: artifact.compression,
    signed: artifact.signed,
    signatureVerified: artifact.signatureVerified,
    augmented: artifact.augmented,
    deviceTypes: info.artifact_depends.device_type,
    providesGroup: info.artifact_provides.artifact_group ?? null,
    dependsArtifacts: info.artifact_depends.artifact_name ?? [],
    dependsGroups: info.artifact_depends.artifact_group ?? [],
    scripts: artifact.header.scripts.map((s) => s.name),
    payloads: artifact.header.payloads.map((p) => ({
      type: p.type,
      /** The signed type an augment took this payload over from (its module must accept it). */
      augments: p.augment?.originalType ?? null,
      provides: p.typeInfo.artifact_provides ?? {},
      depends: p.typeInfo.artifact_depends ?? {},
      clearsProvides: p.typeInfo.clears_artifact_provides ?? [],
      metaData: p.metaData ?? null,
      files: files[p.index] ?? [],
    })),
  };
}

function printText(s: ReturnType<typeof summary>): void {
  const lines = [
    "Mender artifact:",
    `  Name: ${s.name}`,
    `  Format: ${s.format}`,
    `  Version: ${s.version}`,
    `  Signature: ${
      s.signatureVerified
        ? "signed and verified correctly"
        : s.signed
        ? "signed but no key for verification provided; please use `-k` option"
        : "no signature"
    }`,
    `  Compatible devices: [${s.deviceTypes.join(" ")}]`,
    `  Provides group: ${s.providesGroup ?? ""}`,
    `  Depends on one of artifact(s): [${s.dependsArtifacts.join(", ")}]`,
    `  Depends on one of group(s): [${s.dependsGroups.join(", ")}]`,
    `  State scripts:${s.scripts.length ? "" : " none"}`,
    ...s.scripts.map((name) => `    ${name}`),
    "",
    "Updates:",
  ];
  s.payloads.forEach((p, i) => {
    const map = (record: Record<string, unknown>) =>
      Object.keys(record).length
        ? Object.entries(record).map(([k, v]) =>
          `\t${k}: ${Array.isArray(v) ? `[${v.join(", ")}]` : v}`
        )
        : null;
    const provides = map(p.provides);
    const depends = map(p.depends);
    lines.push(
      `    ${i}:`,
      `    Type:   ${p.type ?? "empty payload"}${
        p.augments ? ` (augmented; the signed type is ${p.augments})` : ""
      }`,
      `    Provides:${provides ? "" : " Nothing"}`,
      ...(provides ?? []),
      `    Depends:${depends ? "" : " Nothing"}`,
      ...(depends ?? []),
      `    Clears Provides: [${p.clearsProvides.map((c) => JSON.stringify(c)).join(", ")}]`,
      `    Metadata:${p.metaData ? "" : " Nothing"}`,
      ...(p.metaData ? [`\t${JSON.stringify(p.metaData)}`] : []),
      `    Files:${p.files.length ? "" : " none"}`,
      ...p.files.flatMap((
        f,
      ) => [
        `      name:     ${f.name}`,
        `      size:     ${f.size}`,
        `      checksum: ${f.checksum}`,
        ...(f.augmented ? ["      unsigned: listed in manifest-augment"] : []),
      ]),
    );
  });
  console.log(lines.join("\n"));
}

const readOptions = (command: Command) =>
  command
    .option("-k, --key <file>", "PEM public key to verify the signature with (repeatable)", collect)
    .option("--max-payload-size <size>", "refuse payload files larger than this (e.g. 8G)")
    .option("--no-progress", "no progress bar");

export function artifactReadCommand(progressMode: () => ProgressMode): Command {
  return readOptions(new Command("read"))
    .description("print what an artifact holds (after verifying every checksum)")
    .argument("<artifact>", "the .mender file")
    .option("--json", "print JSON instead of text")
    .addHelpText(
      "after",
      `
Examples:
  ota artifact read release-2.mender
  ota artifact read --json release-2.mender | jq .payloads[0].provides
  ota artifact read -k artifact-verify-key.pem release-2.mender`,
    )
    .action(async (path: string, o: ReadOptions) => {
      if (isMenderArtifact() && !o.json) return await readAsMenderArtifact(path, o);
      const { artifact, files, size } = await inspect(path, o, progressMode());
      const s = summary(path, artifact, files, size);
      if (o.json) console.log(JSON.stringify(s, null, 2));
      else printText(s);
    });
}

export function artifactValidateCommand(progressMode: () => ProgressMode): Command {
  return readOptions(new Command("validate"))
    .description("check an artifact's structure, checksums and (with -k) signature")
    .argument("<artifact>", "the .mender file")
    .addHelpText(
      "after",
      `
Examples:
  ota artifact validate release-2.mender
  ota artifact validate -k artifact-verify-key.pem release-2.mender && echo "signed by us"`,
    )
    .action(async (path: string, o: ReadOptions) => {
      const { artifact } = await inspect(path, o, progressMode());
      if (isMenderArtifact() && artifact.signed && !o.key?.length) {
        fail("SIGNATURE_UNCHECKED", "missing verifier: the artifact is signed; give its key (-k)");
      }
      console.log(`Artifact file '${path}' validated successfully`);
    });
}

/**
 * mender-artifact's read: a signature that does not verify is reported in the output, not
 * as a failure (everything else is still checked).
 */
async function readAsMenderArtifact(path: string, o: ReadOptions): Promise<void> {
  const keys = o.key?.length ? loadVerifyKeys(o.key) : [];
  const { artifact, files } = await inspect(path, o, "none", false);
  const state: SignatureState = !artifact.signed
    ? "none"
    : !keys.length
    ? "unverified"
    : verifyManifest(artifact.manifestBytes, artifact.signature ?? new Uint8Array(), keys)
    ? "verified"
    : "failed";
  process.stdout.write(menderReadText(artifact, files, state));
}
