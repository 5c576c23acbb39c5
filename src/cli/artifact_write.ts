/** `ota artifact write rootfs-image | module-image | bootstrap-artifact` */
import { basename } from "node:path";
import process from "node:process";
import { Command, Option } from "commander";
import { compressions, parseCompressionName } from "../artifact/compression.ts";
import { goJson } from "../artifact/go_json.ts";
import {
  type ArtifactSpec,
  type AugmentSpec,
  type PayloadSpec,
  writeArtifact,
} from "../artifact/writer.ts";
import { fail } from "../errors.ts";
import {
  collect,
  keyValues,
  loadSigningKey,
  parseJsonObject,
  parseSize,
  readFileOrFail,
} from "./options.ts";
import { createProgress, type ProgressMode } from "./progress.ts";
import { isMenderArtifact } from "./dialect.ts";
import {
  clearsProvides,
  type FlagOrder,
  type ProvidesOptions,
  typeInfoProvides,
} from "./write_provides.ts";

interface CommonOptions extends ProvidesOptions {
  artifactName: string;
  deviceType: string[];
  outputPath?: string;
  artifactNameDepends?: string[];
  dependsGroups?: string[];
  providesGroup?: string;
  provides?: string[];
  depends?: string[];
  clearsProvides?: string[];
  noDefaultClearsProvides?: boolean;
  defaultClearsProvides?: boolean;
  softwareName?: string;
  softwareVersion?: string;
  softwareFilesystem?: string;
  defaultSoftwareVersion?: boolean;
  script?: string[];
  key?: string;
  compression: string;
  compressionLevel?: string;
  version?: string;
  progress?: boolean;
}

function commonOptions(command: Command, withFiles: boolean, order: FlagOrder): Command {
  const software = (value: string) => {
    order.software = ++order.at;
    return value;
  };
  const provide = (value: string, previous?: string[]) => {
    order.provides.set(value.slice(0, value.indexOf(":")), ++order.at);
    return collect(value, previous);
  };
  command
    .requiredOption("-n, --artifact-name <name>", "name of the artifact")
    .requiredOption("-t, --device-type <type>", "compatible device type (repeatable)", collect)
    .option("-o, --output-path <file>", "where to write the artifact (default: <name>.mender)")
    .option(
      "-N, --artifact-name-depends <name>",
      "artifact(s) this update depends on (repeatable)",
      collect,
    )
    .option("-G, --depends-groups <group>", "group(s) this update depends on (repeatable)", collect)
    .option("-g, --provides-group <group>", "group this artifact provides")
    .option(
      "-p, --provides <key:value>",
      "add to type-info artifact_provides (repeatable)",
      provide,
    )
    .option("-d, --depends <key:value>", "add to type-info artifact_depends (repeatable)", collect)
    .option(
      "--clears-provides <pattern>",
      "add a clears_artifact_provides pattern (repeatable)",
      collect,
    )
    .option("--no-default-clears-provides", "do not add the default clears_artifact_provides")
    .option("--software-name <name>", "store the version as rootfs-image.NAME.version", software)
    .option(
      "--software-version <version>",
      "software version (default: the artifact name)",
      software,
    )
    .option(
      "--software-filesystem <name>",
      "use NAME instead of rootfs-image in the version key",
      software,
    )
    .option("--no-default-software-version", "do not write the software version provide")
    .option("-s, --script <file>", "state script to embed (repeatable)", collect)
    .option("-k, --key <file>", "PEM private key (RSA or ECDSA P-256) to sign with")
    .addOption(
      new Option("--compression <kind>", "none, gzip, lzma (xz) or zstd")
        .default("gzip"),
    )
    .option("--compression-level <1-9>", "compression level (default: the compressor's own)")
    .option("-v, --version <n>", "artifact format version (only 3 is written)", "3")
    .option("--no-progress", "no progress bar");
  if (withFiles) {
    command.option("-f, --file <file>", "payload file (repeatable)", collect);
  }
  return command;
}

function wholeNumber(text: string, flag: string): number {
  if (!/^\d{1,9}$/.test(text)) fail("BAD_ARGUMENTS", `${flag} takes a number of bytes`);
  return Number(text);
}

function scripts(paths: string[] = []) {
  return paths.map((path) => ({
    name: basename(path),
    bytes: readFileOrFail(path, "the state script"),
  }));
}

function baseSpec(o: CommonOptions, payload: PayloadSpec): ArtifactSpec {
  if (isMenderArtifact() && /\s/.test(o.artifactName.trim())) {
    fail("BAD_ARGUMENTS", "whitespace is not allowed in the artifact-name");
  }
  if (o.version !== undefined && o.version !== "3") {
    fail("BAD_ARGUMENTS", `only artifact format version 3 is written, not ${o.version}`);
  }
  return {
    name: o.artifactName,
    group: o.providesGroup,
    deviceTypes: o.deviceType,
    depends: { artifact_name: o.artifactNameDepends, artifact_group: o.dependsGroups },
    payload,
    scripts: scripts(o.script),
    compression: parseCompressionName(o.compression),
    compressionLevel: o.compressionLevel === undefined ? undefined : Number(o.compressionLevel),
    signingKey: o.key ? loadSigningKey(o.key) : undefined,
  };
}

async function write(
  spec: ArtifactSpec,
  o: CommonOptions,
  progressMode: ProgressMode,
): Promise<void> {
  // mender-artifact writes artifact.mender when no -o is given
  const output = o.outputPath ??
    (isMenderArtifact() ? "artifact.mender" : `${o.artifactName}.mender`);
  const progress = createProgress(o.progress === false ? "none" : progressMode);
  let phase = "";
  const result = await writeArtifact(spec, output, {
    onProgress: ({ phase: p, bytes, total }) => {
      if (p !== phase) {
        if (phase) progress.done();
        phase = p;
        progress.step(p === "hash" ? "checksum" : p, total);
      }
      progress.update(bytes);
    },
    onNotice: (message) => process.stderr.write(`ota: ${message}\n`),
  });
  if (phase) progress.done();
  if (!isMenderArtifact()) console.log(`Wrote ${output} (${result.bytes} bytes)`);
}

interface ModuleOptions {
  file?: string[];
  type: string;
  metaData?: string;
  augmentType?: string;
  augmentProvides?: string[];
  augmentDepends?: string[];
  augmentMetaData?: string;
  augmentFile?: string[];
}

function jsonFile(path: string, what: string): Record<string, unknown> {
  return parseJsonObject(readFileOrFail(path, `the ${what} file`), `${what} ${path}`);
}

/** mender-artifact's --augment-* options: all of them need --augment-type. */
function augmentSpec(o: ModuleOptions): AugmentSpec | undefined {
  if (!o.augmentType) {
    const given = o.augmentFile ?? o.augmentProvides ?? o.augmentDepends ?? o.augmentMetaData;
    if (given !== undefined) {
      fail("BAD_ARGUMENTS", "Must give --augment-type argument if making augmented artifact");
    }
    return undefined;
  }
  return {
    type: o.augmentType,
    files: (o.augmentFile ?? []).map((path) => ({ name: basename(path), path })),
    typeInfo: {
      artifact_provides: keyValues(o.augmentProvides, "--augment-provides"),
      artifact_depends: keyValues(o.augmentDepends, "--augment-depends"),
    },
    metaData: o.augmentMetaData ? jsonFile(o.augmentMetaData, "augment meta-data") : undefined,
  };
}

export function artifactWriteCommand(progressMode: () => ProgressMode): Command {
  const write_ = new Command("write").description("write a Mender Artifact (format v3)");
  const newOrder = (): FlagOrder => ({ at: 0, provides: new Map(), software: -1 });
  const rootfsOrder = newOrder(), moduleOrder = newOrder();

  commonOptions(
    write_.command("rootfs-image").description(
      "an artifact that updates the whole root filesystem (A/B)",
    ),
    true,
    rootfsOrder,
  )
    .option("--legacy-rootfs-image-checksum", "store the checksum as rootfs_image_checksum")
    .option("--no-checksum-provide", "do not write the rootfs-image.checksum provide")
    .option(
      "--adaptive",
      "index the image's blocks in the signed header, so that ota fetches only changed blocks",
    )
    .option(
      "--adaptive-block-size <bytes>",
      "bytes per hashed block (the file system's; more when the index would not fit)",
      "4096",
    )
    .option("--adaptive-piece-size <bytes>", "image bytes per compressed piece", "65536")
    .option(
      "--adaptive-max-index <size>",
      "largest index in the header (Mender's client holds it in memory several times over); " +
        "larger blocks are taken when it would not fit",
      "15M",
    )
    .addHelpText(
      "after",
      `
Examples:
  ota artifact write rootfs-image -n release-2 -t raspberrypi4 -f rootfs.ext4 -o release-2.mender
  ota artifact write rootfs-image -n release-2 -t board-a -t board-b -f rootfs.ext4 \\
      --compression lzma -k signing.key -s ArtifactInstall_Enter_00_check
  ota artifact write rootfs-image -n release-3 -t raspberrypi4 -f rootfs.ext4 --adaptive`,
    )
    .action(
      async (
        o: CommonOptions & {
          file?: string[];
          legacyRootfsImageChecksum?: boolean;
          checksumProvide?: boolean;
          adaptive?: boolean;
          adaptiveBlockSize: string;
          adaptivePieceSize: string;
          adaptiveMaxIndex: string;
        },
      ) => {
        const [file, ...extra] = o.file ?? [];
        if (file === undefined || extra.length > 0) {
          fail("BAD_ARGUMENTS", "rootfs-image takes exactly one file (-f rootfs.ext4)");
        }
        const payload: PayloadSpec = {
          type: "rootfs-image",
          typeInfoType: "",
          files: [{ name: basename(file), path: file }],
          typeInfo: {
            artifact_provides: typeInfoProvides(o, rootfsOrder),
            artifact_depends: keyValues(o.depends, "-d"),
            clears_artifact_provides: clearsProvides(o),
          },
          metaData: {},
          checksumProvide: o.checksumProvide === false
            ? undefined
            : o.legacyRootfsImageChecksum
            ? "rootfs_image_checksum"
            : "rootfs-image.checksum",
          adaptive: o.adaptive
            ? {
              blockSize: wholeNumber(o.adaptiveBlockSize, "--adaptive-block-size"),
              pieceSize: wholeNumber(o.adaptivePieceSize, "--adaptive-piece-size"),
              maxIndexBytes: parseSize(o.adaptiveMaxIndex),
            }
            : undefined,
        };
        await write(baseSpec(o, payload), o, progressMode());
      },
    );

  commonOptions(
    write_.command("module-image").description(
      "an artifact for an Update Module (-T names the module)",
    ),
    true,
    moduleOrder,
  )
    .requiredOption("-T, --type <module>", "payload type: the Update Module that installs it")
    .option("-m, --meta-data <file>", "JSON object handed to the module as header/meta-data")
    .option("--augment-type <module>", "the Update Module of an augment (unsigned; delta updates)")
    .option("--augment-provides <key:value>", "add to the augment's provides (repeatable)", collect)
    .option("--augment-depends <key:value>", "add to the augment's depends (repeatable)", collect)
    .option("--augment-meta-data <file>", "JSON object: the augment's meta-data")
    .option(
      "--augment-file <file>",
      "payload file in the augment, not signed (repeatable)",
      collect,
    )
    .addHelpText(
      "after",
      `
Examples:
  ota artifact write module-image -T directory -n web-1.2 -t gateway \\
      -f update.tar -f dest_dir -o web-1.2.mender
  ota artifact write module-image -T dfu -n fw-2.0 -t gateway -f firmware.bin \\
      -m dfu.json -p dfu.board.version:2.0
  ota artifact write module-image -T app -n app-2 -t gateway -f app.tar -k signing.key \\
      --augment-type app-delta --augment-file app-1-to-2.delta --augment-depends app.version:1

An augment (--augment-*) is added after signing: manifest-augment covers it, the signature
does not. It may add provides, depends and meta-data keys, never change the signed ones.`,
    )
    .action(async (o: CommonOptions & ModuleOptions) => {
      if (o.type === "rootfs-image") {
        fail("BAD_ARGUMENTS", "use 'write rootfs-image' for root filesystem images");
      }
      const payload: PayloadSpec = {
        type: o.type,
        files: (o.file ?? []).map((path) => ({ name: basename(path), path })),
        typeInfo: {
          artifact_provides: typeInfoProvides(o, moduleOrder, o.type),
          artifact_depends: keyValues(o.depends, "-d"),
          clears_artifact_provides: clearsProvides(o, o.type),
        },
        augment: augmentSpec(o),
      };
      if (o.metaData) {
        // mender-artifact re-encodes it with Go's encoding/json: keys sorted, its escapes
        payload.metaData = jsonFile(o.metaData, "meta-data");
        payload.metaDataBytes = new TextEncoder().encode(goJson(payload.metaData));
      }
      await write(baseSpec(o, payload), o, progressMode());
    });

  commonOptions(
    write_.command("bootstrap-artifact").description(
      "an empty-payload artifact that only sets the name and provides",
    ),
    false,
    newOrder(),
  )
    .addHelpText(
      "after",
      `
Example:
  ota artifact write bootstrap-artifact -n factory-1 -t gateway -p rootfs-image.version:factory-1`,
    )
    .action(async (o: CommonOptions) => {
      const payload: PayloadSpec = {
        type: null,
        files: [],
        typeInfo: {
          artifact_provides: keyValues(o.provides, "-p"),
          artifact_depends: keyValues(o.depends, "-d"),
          clears_artifact_provides: o.clearsProvides,
        },
      };
      await write(baseSpec(o, payload), o, progressMode());
    });

  return write_.addHelpText(
    "after",
    `
Examples:
  ota artifact write rootfs-image -n release-2 -t my-board -f rootfs.ext4
  ota artifact write module-image -T directory -n web-1 -t my-board -f update.tar -f dest_dir
  ota artifact write bootstrap-artifact -n factory-1 -t my-board

Compressions: ${compressions.join(", ")} (lzma is accepted for xz).`,
  );
}
