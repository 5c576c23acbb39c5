/**
 * ext4 images for the artifact editing tests, made and read with e2fsprogs only: an image
 * built from a directory (mkfs.ext4 -d), and the tree inside one (debugfs rdump), so that
 * what ota and mender-artifact left in an image can be compared file by file.
 */
import { createHash } from "node:crypto";
import { run, sh } from "./mod.ts";

/** Files as `path -> content` (a string or bytes); directories are made as needed. */
export async function makeExt4(
  image: string,
  files: Record<string, string | Uint8Array>,
  modes: Record<string, number> = {},
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "ota-ext4-root-" });
  try {
    for (const [path, content] of Object.entries(files)) {
      const full = `${root}${path}`;
      await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
      if (typeof content === "string") await Deno.writeTextFile(full, content);
      else await Deno.writeFile(full, content);
      await Deno.chmod(full, modes[path] ?? 0o644);
    }
    await sh(["truncate", "-s", "8M", image]);
    await sh(["mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", "-d", root, image]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

export interface TreeEntry {
  type: "file" | "dir" | "other";
  mode: number;
  size: number;
  sha256?: string;
}

/** Every entry of the image: type, permission bits, size and the sha256 of each file. */
export async function ext4Tree(image: string): Promise<Record<string, TreeEntry>> {
  const out = await Deno.makeTempDir({ prefix: "ota-ext4-tree-" });
  try {
    const dump = await run(["debugfs", "-R", `rdump / ${out}`, image]);
    if (dump.code !== 0) throw new Error(`debugfs rdump failed: ${dump.stderr}`);
    const tree: Record<string, TreeEntry> = {};
    const walk = async (dir: string, rel: string) => {
      for await (const entry of Deno.readDir(dir)) {
        const path = `${dir}/${entry.name}`;
        const info = await Deno.lstat(path);
        const key = `${rel}/${entry.name}`;
        const mode = (info.mode ?? 0) & 0o7777;
        if (info.isDirectory) {
          tree[key] = { type: "dir", mode, size: 0 };
          await walk(path, key);
        } else if (info.isFile) {
          const sha256 = createHash("sha256").update(await Deno.readFile(path)).digest("hex");
          tree[key] = { type: "file", mode, size: info.size, sha256 };
        } else tree[key] = { type: "other", mode, size: info.size };
      }
    };
    await walk(out, "");
    return tree;
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}
