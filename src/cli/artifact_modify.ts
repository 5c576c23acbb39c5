/**
 * `ota artifact modify`: mender-artifact's modify. It edits files of the root file system
 * (mender.conf's ServerURL and TenantToken, the server certificate, the verification key,
 * /etc/mender/artifact_info) and the header (name, depends, provides, meta-data, clears),
 * then repacks the artifact, always, as mender-artifact does. A new name changes the
 * header and artifact_info only: the `rootfs-image.version` provide keeps its value.
 */
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { parseCompressionName } from "../artifact/compression.ts";
import { goJson } from "../artifact/go_json.ts";
import type { RepackArgs } from "../artifact/repack.ts";
import { fail, isOtaError } from "../errors.ts";
import type { VirtualImage } from "../image/virtual.ts";
import { withImageFile } from "./artifact_files.ts";
import { collect, keyValues, loadSigningKey, parseJsonObject, readFileOrFail } from "./options.ts";

export interface ModifyOptions {
  serverUri?: string;
  serverCert?: string;
  verificationKey?: string;
  tenantToken?: string;
  artifactName?: string;
  name?: string;
  artifactNameDepends?: string[];
  providesGroup?: string;
  dependsGroups?: string[];
  provides?: string[];
  depends?: string[];
  metaData?: string;
  clearsProvides?: string[];
  deleteClearsProvides?: string[];
  key?: string;
  compression?: string;
}

async function scratch<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(join(tmpdir(), "ota-modify-"));
  try {
    return await work(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Sets one key of /etc/mender/mender.conf, re-encoded as Go does (sorted, compact). */
function setConfValue(image: VirtualImage, key: string, value: string): Promise<void> {
  return scratch(async (dir) => {
    const local = join(dir, "mender.conf");
    await image.copyOut("/etc/mender/mender.conf", local);
    const conf = parseJsonObject(await fs.readFile(local), "/etc/mender/mender.conf in the image");
    conf[key] = value;
    await fs.writeFile(local, goJson(conf));
    await image.copyIn(local, "/etc/mender/mender.conf");
  });
}

async function copyHostFile(image: VirtualImage, host: string, path: string, what: string) {
  await fs.stat(host).catch((error) =>
    fail("FILE_READ", `invalid ${what} ${host}: ${(error as Error).message}`)
  );
  await image.copyIn(host, path);
}

/** The new name goes into the header and artifact_info; an image without ext4 keeps the header. */
async function rename(image: VirtualImage, name: string): Promise<void> {
  if (image.args) image.args.name = name;
  if (image.kind === "payload") return;
  await scratch(async (dir) => {
    const info = join(dir, "artifact_info");
    await fs.writeFile(info, `artifact_name=${name}`, { mode: 0o600 });
    await image.copyIn(info, "/etc/mender/artifact_info").catch((error) => {
      if (!(image.args && isOtaError(error, "IMAGE_FS_UNSUPPORTED"))) throw error;
    });
  });
}

function headerArgs(image: VirtualImage, flag: string): RepackArgs {
  if (!image.args) fail("BAD_ARGUMENTS", `${flag} must be used with an artifact`);
  return image.args;
}

export async function modifyImage(image: VirtualImage, o: ModifyOptions): Promise<void> {
  image.markChanged();
  if (o.serverUri) await setConfValue(image, "ServerURL", o.serverUri);
  if (o.serverCert) {
    await copyHostFile(image, o.serverCert, "/etc/mender/server.crt", "server certificate");
  }
  if (o.verificationKey) {
    await copyHostFile(
      image,
      o.verificationKey,
      "/etc/mender/artifact-verify-key.pem",
      "verification key",
    );
  }
  if (o.tenantToken) await setConfValue(image, "TenantToken", o.tenantToken);
  const name = o.name || o.artifactName;
  if (name) await rename(image, name);
  if (o.artifactNameDepends) headerArgs(image, "-N").dependsNames = o.artifactNameDepends;
  if (o.dependsGroups) headerArgs(image, "-G").dependsGroups = o.dependsGroups;
  if (o.providesGroup !== undefined) headerArgs(image, "-g").group = o.providesGroup;
  if (o.depends?.length) headerArgs(image, "-d").depends = keyValues(o.depends, "-d");
  if (o.provides?.length) headerArgs(image, "-p").provides = keyValues(o.provides, "-p");
  if (o.metaData) {
    headerArgs(image, "-m").metaData = parseJsonObject(
      readFileOrFail(o.metaData, "the meta-data file"),
      `meta-data ${o.metaData}`,
    );
  }
  if (o.clearsProvides) {
    const args = headerArgs(image, "--clears-provides");
    args.clears = [...(args.clears ?? []), ...o.clearsProvides];
  }
  if (o.deleteClearsProvides) {
    const args = headerArgs(image, "--delete-clears-provides");
    args.clears = (args.clears ?? []).filter((c) => !o.deleteClearsProvides!.includes(c));
  }
}

export function artifactModifyCommand(): Command {
  return new Command("modify")
    .description("change an artifact's header and the Mender files in its root file system")
    .argument("<artifact>", "the .mender file (or a bare ext4 .img), changed in place")
    .option("-u, --server-uri <uri>", "set ServerURL in /etc/mender/mender.conf")
    .option("-c, --server-cert <file>", "install FILE as /etc/mender/server.crt")
    .option("-v, --verification-key <file>", "install FILE as /etc/mender/artifact-verify-key.pem")
    .option("-t, --tenant-token <token>", "set TenantToken in /etc/mender/mender.conf")
    .option("-n, --artifact-name <name>", "new artifact name (header and artifact_info)")
    .option("--name <name>", "the same as --artifact-name (deprecated by Mender)")
    .option(
      "-N, --artifact-name-depends <name>",
      "replace the artifact names it depends on",
      collect,
    )
    .option("-g, --provides-group <group>", "set the group it provides")
    .option("-G, --depends-groups <group>", "replace the groups it depends on", collect)
    .option("-p, --provides <key:value>", "replace the payload's provides (repeatable)", collect)
    .option("-d, --depends <key:value>", "replace the payload's depends (repeatable)", collect)
    .option("-m, --meta-data <file>", "replace the payload's meta-data with this JSON file")
    .option("--clears-provides <pattern>", "add a clears_artifact_provides pattern", collect)
    .option(
      "--delete-clears-provides <pattern>",
      "remove a clears_artifact_provides pattern",
      collect,
    )
    .option("-k, --key <file>", "PEM private key to sign with (without it the result is unsigned)")
    .option("--compression <kind>", "repack with none, gzip, lzma (xz) or zstd")
    .addHelpText(
      "after",
      `
Examples:
  ota artifact modify -u https://hosted.mender.io -c server.crt release-2.mender
  ota artifact modify -n release-2.1 -k signing.key release-2.mender
  ota artifact modify -p rootfs-image.version:2.1 -N release-1 release-2.mender
  ota artifact modify --compression lzma release-2.mender

The artifact is always repacked: the header is rebuilt as mender-artifact rebuilds it and
the signature is dropped unless -k is given. A new name does not change the
rootfs-image.version provide; set it with -p.`,
    )
    .action(async (path: string, o: ModifyOptions) => {
      const compression = o.compression ? parseCompressionName(o.compression) : undefined;
      const signingKey = o.key ? loadSigningKey(o.key) : undefined;
      await fs.stat(path).catch(() => fail("FILE_READ", `${path} does not exist`));
      await withImageFile(path, { signingKey, compression }, (image) => modifyImage(image, o));
    });
}
