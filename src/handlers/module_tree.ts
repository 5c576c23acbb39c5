/**
 * The Update Module file tree (protocol v3): what the module reads about the update and
 * the device, and its private scratch space. Recreated before Download, kept until Cleanup
 * so that a commit after a reboot finds it again.
 */
import { promises as fs } from "node:fs";
import { dirname, join } from "node:path";
import { syncDir, writeDurable } from "../files.ts";
import type { DownloadContext, HandlerContext } from "./handler.ts";

export function treeDir(ctx: HandlerContext): string {
  return join(
    ctx.paths.dataDir,
    "modules",
    "v3",
    "payloads",
    String(ctx.payloadIndex).padStart(4, "0"),
    "tree",
  );
}

export async function createTree(ctx: DownloadContext): Promise<string> {
  const tree = treeDir(ctx);
  await fs.rm(tree, { recursive: true, force: true });
  await fs.mkdir(join(tree, "header"), { recursive: true, mode: 0o700 });
  await fs.mkdir(join(tree, "tmp"), { mode: 0o700 });
  const info = ctx.header.info.artifact_provides;
  const augment = ctx.payload.augment;
  const files: Record<string, string | Uint8Array> = {
    "version": "3\n",
    "current_artifact_name": `${ctx.current.artifactName}\n`,
    "current_artifact_group": ctx.current.artifactGroup ? `${ctx.current.artifactGroup}\n` : "",
    "current_device_type": `${ctx.current.deviceType}\n`,
    "header/artifact_name": info.artifact_name,
    "header/artifact_group": info.artifact_group ?? "",
    // header/ holds the signed header only; an augment's own files go to header-augment/
    "header/payload_type": augment?.originalType ?? ctx.payload.type ?? "",
    "header/header-info": ctx.headerInfoBytes,
    "header/type-info": ctx.payload.typeInfoBytes,
    "header/meta-data": ctx.payload.metaDataBytes ?? "",
    ...(augment
      ? {
        "header-augment/header-info": ctx.header.augmentInfoBytes ?? "",
        "header-augment/type-info": augment.typeInfoBytes,
        "header-augment/meta-data": augment.metaDataBytes ?? "",
      }
      : {}),
  };
  if (augment) await fs.mkdir(join(tree, "header-augment"), { mode: 0o700 });
  for (const [name, content] of Object.entries(files)) {
    await writeDurable(join(tree, name), content);
  }
  // a commit or rollback after a power cut reads these again: sync up to the data directory
  await syncDir(join(tree, "header"));
  if (augment) await syncDir(join(tree, "header-augment"));
  const top = ctx.paths.dataDir;
  for (let dir = tree; dir.startsWith(top) && dir !== dirname(dir); dir = dirname(dir)) {
    await syncDir(dir);
  }
  return tree;
}

export async function removeTree(ctx: HandlerContext): Promise<void> {
  await fs.rm(treeDir(ctx), { recursive: true, force: true });
}
