/** `ota artifact dump`: extract payload files, scripts and meta-data, each only once verified. */
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { goJson } from "../artifact/go_json.ts";
import { type Artifact, openArtifact } from "../artifact/reader.ts";
import { isMenderArtifact } from "./dialect.ts";
import { fail } from "../errors.ts";
import { readFileStream } from "../files.ts";
import { saveVerified } from "../artifact/unpack.ts";
import { collect, loadVerifyKeys } from "./options.ts";

interface DumpOptions {
  files?: string;
  scripts?: string;
  metaData?: string;
  key?: string[];
}

export function artifactDumpCommand(): Command {
  return new Command("dump")
    .description(
      "extract payload files, state scripts and meta-data (each written only after it verified)",
    )
    .argument("<artifact>", "the .mender file")
    .option("--files <dir>", "write the payload files here")
    .option("--scripts <dir>", "write the state scripts here")
    .option(
      "--meta-data <dir>",
      "write the payload meta-data here (meta-data.json, an augment's meta-data-augment.json)",
    )
    .option(
      "-k, --key <file>",
      "PEM public key the artifact must be signed with (repeatable)",
      collect,
    )
    .addHelpText(
      "after",
      `
Examples:
  ota artifact dump --files ./payload release-2.mender
  ota artifact dump --scripts ./scripts --meta-data ./meta module-1.mender`,
    )
    .action(async (path: string, o: DumpOptions) => {
      if (!o.files && !o.scripts && !o.metaData && !isMenderArtifact()) {
        fail(
          "BAD_ARGUMENTS",
          "say what to dump: --files DIR, --scripts DIR and/or --meta-data DIR",
        );
      }
      const artifact = await openArtifact(readFileStream(path), {
        verifyKeys: o.key?.length ? loadVerifyKeys(o.key) : undefined,
      });
      try {
        if (o.scripts) {
          await fs.mkdir(o.scripts, { recursive: true });
          for (const script of artifact.header.scripts) {
            await fs.writeFile(join(o.scripts, script.name), script.bytes, { mode: 0o755 });
          }
        }
        const payload = artifact.header.payloads[0];
        const meta = payload?.metaDataBytes;
        const augmentMeta = payload?.augment?.metaDataBytes;
        if (o.metaData && isMenderArtifact()) await menderMetaData(o.metaData, artifact);
        else if (o.metaData && (meta !== undefined || augmentMeta !== undefined)) {
          await fs.mkdir(o.metaData, { recursive: true });
          if (meta) await fs.writeFile(join(o.metaData, "meta-data.json"), meta);
          if (augmentMeta) {
            await fs.writeFile(join(o.metaData, "meta-data-augment.json"), augmentMeta);
          }
        }
        if (o.files) await fs.mkdir(o.files, { recursive: true });
        for await (const payload of artifact.payloads()) {
          for await (const file of payload.files()) {
            if (o.files && payload.index === 0) await saveVerified(o.files, file.name, file.stream);
          }
        }
        await artifact.finish();
      } catch (error) {
        await artifact.cancel(error);
        throw error;
      }
    });
}

/**
 * mender-artifact's dump writes `0000.meta-data` and an augment's `0000.meta-data-augment`,
 * each re-encoded by Go, and only when not empty.
 */
async function menderMetaData(dir: string, artifact: Artifact): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const payload = artifact.header.payloads[0];
  const files: [string, Uint8Array | undefined][] = [
    ["0000.meta-data", payload?.metaDataBytes],
    ["0000.meta-data-augment", payload?.augment?.metaDataBytes],
  ];
  for (const [name, bytes] of files) {
    // verified and parsed as a JSON object already, when the header was read
    const meta = bytes?.byteLength ? JSON.parse(new TextDecoder().decode(bytes)) : {};
    if (!Object.keys(meta).length) continue;
    await fs.writeFile(join(dir, name), `${goJson(meta)}\n`, { flag: "wx" });
  }
}
