/**
 * Directory trees for the module tests: build one from a description, and take an exact
 * picture of one (every path with its type, mode, content hash or link target), so that
 * "exactly the old tree" and "exactly the new tree" are comparisons of two pictures.
 */
import { createHash } from "node:crypto";

export type TreeSpec = Record<
  string,
  string | { link: string } | { dir: true; mode?: number } | {
    content: string;
    mode: number;
  }
>;

export async function buildTree(root: string, spec: TreeSpec): Promise<void> {
  await Deno.mkdir(root, { recursive: true });
  for (const [path, entry] of Object.entries(spec)) {
    const full = `${root}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    if (typeof entry === "string") await Deno.writeTextFile(full, entry);
    else if ("link" in entry) await Deno.symlink(entry.link, full);
    else if ("dir" in entry) {
      await Deno.mkdir(full, { recursive: true });
      if (entry.mode !== undefined) await Deno.chmod(full, entry.mode);
    } else {
      await Deno.writeTextFile(full, entry.content);
      await Deno.chmod(full, entry.mode);
    }
  }
}

/** One line per entry under `root` (sorted), or undefined when `root` does not exist. */
export async function snapshot(root: string): Promise<string[] | undefined> {
  try {
    await Deno.lstat(root);
  } catch {
    return undefined;
  }
  const lines: string[] = [];
  const walk = async (dir: string, rel: string) => {
    const top = await Deno.lstat(dir);
    lines.push(`${rel || "."} dir ${(top.mode! & 0o7777).toString(8)}`);
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    for (const name of names.sort()) {
      const path = `${dir}/${name}`;
      const r = rel ? `${rel}/${name}` : name;
      const info = await Deno.lstat(path);
      if (info.isSymlink) lines.push(`${r} link ${await Deno.readLink(path)}`);
      else if (info.isDirectory) await walk(path, r);
      else {
        const hash = createHash("sha256").update(await Deno.readFile(path)).digest("hex");
        lines.push(`${r} file ${(info.mode! & 0o7777).toString(8)} ${hash.slice(0, 16)}`);
      }
    }
  };
  await walk(root, "");
  return lines;
}

/** The names the directory module may leave next to a target it is working on. */
export async function swapLeftovers(target: string): Promise<string[]> {
  const parent = target.slice(0, target.lastIndexOf("/"));
  const name = target.slice(target.lastIndexOf("/") + 1);
  const found: string[] = [];
  for await (const entry of Deno.readDir(parent)) {
    if (entry.name.startsWith(`.${name}.ota-`)) found.push(entry.name);
  }
  return found.sort();
}
