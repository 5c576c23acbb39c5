/** Where the directory module installs: files/dest_dir (as Mender's generator writes it). */
import { normalize } from "node:path";
import { fail } from "../../src/errors.ts";
import { readTextIfExists } from "../../src/files.ts";
import { readMetaData } from "../common/tree.ts";

/**
 * The target directory: the payload file `dest_dir` (Mender's directory-artifact-gen),
 * or else meta-data `{"dest_dir": "..."}`. It must be absolute, and not "/" (the tree is
 * swapped by renaming the target, which "/" cannot be).
 */
export async function destination(tree: string): Promise<string> {
  let raw = (await readTextIfExists(`${tree}/files/dest_dir`))?.trim();
  if (!raw) {
    const meta = await readMetaData(tree);
    raw = typeof meta.dest_dir === "string" ? meta.dest_dir.trim() : "";
  }
  if (!raw) {
    fail(
      "DIRECTORY_DEST",
      "no destination: the artifact needs a dest_dir file (or meta-data dest_dir)",
    );
  }
  if (!raw.startsWith("/")) fail("DIRECTORY_DEST", `dest_dir must be an absolute path, not ${raw}`);
  if (raw.includes("\n") || raw.split("/").includes("..")) {
    fail("DIRECTORY_DEST", `dest_dir must be one plain absolute path, not ${JSON.stringify(raw)}`);
  }
  const path = normalize(raw).replace(/\/+$/, "");
  if (path === "") {
    fail("DIRECTORY_DEST", "dest_dir is /: installing a whole root filesystem is not supported");
  }
  return path;
}
