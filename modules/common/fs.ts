/** Filesystem steps the modules build their crash-safe sequences from. */
import { constants, promises as fs } from "node:fs";
import { exists, syncDir } from "../../src/files.ts";

export { exists, syncDir };

export async function removeTree(path: string): Promise<void> {
  await fs.rm(path, { recursive: true, force: true });
}

/**
 * fsync of every file and directory under `root`, so that a tree unpacked by another
 * program (tar) is on the disk before a rename makes it visible.
 */
export async function syncTree(root: string): Promise<void> {
  const entries = await fs.readdir(root, { withFileTypes: true });
  for (const entry of entries) {
    const path = `${root}/${entry.name}`;
    if (entry.isDirectory()) await syncTree(path);
    else if (entry.isFile()) await syncPath(path, constants.O_RDONLY);
  }
  await syncPath(root, constants.O_RDONLY | constants.O_DIRECTORY);
}

async function syncPath(path: string, flags: number): Promise<void> {
  const handle = await fs.open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
