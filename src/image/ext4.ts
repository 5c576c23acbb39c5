/**
 * Files inside an ext4 image, edited with e2fsprogs the way mender-artifact 3.9 does it:
 * `fsck.ext4 -a` before each use, then `debugfs -w -f SCRIPT` with the same command
 * sequences (cd to check a directory, rm then write to replace, stat then dump to copy out).
 * debugfs reports most failures only on stderr, so any line after its banner is an error.
 * Paths are quoted for debugfs's parser; quotes, backslashes and control characters are refused.
 */
import { constants, promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fail } from "../errors.ts";
import { runProcess } from "../process.ts";
import { goBase, goClean, goDir, goSplit } from "./go_path.ts";

/** mender-artifact's search: PATH first, then the sbin directories. */
async function binary(name: string): Promise<string> {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/local/sbin"];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = join(dir, name);
    if (await fs.access(candidate, constants.X_OK).then(() => true, () => false)) {
      return candidate;
    }
  }
  return fail(
    "TOOL_MISSING",
    `${name} was not found; it comes with e2fsprogs (apt-get install e2fsprogs)`,
  );
}

function quote(path: string): string {
  if (/["\\\p{Cc}]/u.test(path)) {
    fail("IMAGE_PATH", `${JSON.stringify(path)} holds a quote, backslash or control character`);
  }
  return `"${path}"`;
}

const env = { DEBUGFS_PAGER: "cat", LANG: "C", LC_ALL: "C" };

async function run(tool: string, args: string[]) {
  const path = await binary(tool);
  try {
    return await runProcess(path, args, { env, timeoutMs: 30 * 60_000 });
  } catch (error) {
    return fail("E2FS_FAILED", `${tool} could not run: ${(error as Error).message}`);
  }
}

/** Runs a debugfs script on the image; resolves with its stdout, fails on any error line. */
export async function debugfs(script: string, image: string, write = true): Promise<string> {
  const dir = await fs.mkdtemp(join(tmpdir(), "ota-debugfs-"));
  try {
    const file = join(dir, "script");
    await fs.writeFile(file, script);
    const result = await run("debugfs", [...(write ? ["-w"] : []), "-f", file, image]);
    const lines = result.stderr.split("\n");
    if (!/^debugfs/.test(lines[0] ?? "")) {
      fail("E2FS_FAILED", `debugfs did not start on ${image}: ${result.stderr.trim()}`);
    }
    const said = lines.slice(1).join(" ").trim();
    if (said) {
      const failed = script.trim().split("\n").filter((line) => line !== "close").join("; ");
      fail(/not found/i.test(said) ? "IMAGE_NOT_FOUND" : "E2FS_FAILED", `${failed}: ${said}`);
    }
    return result.stdout;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * `fsck.ext4 -a`, as mender-artifact runs it before touching an image: 0 and 1 (errors
 * corrected) are fine, 8 means it is no ext4 file system.
 */
export async function checkFilesystem(image: string): Promise<void> {
  const result = await run("fsck.ext4", ["-a", image]);
  if (result.code === 0 || result.code === 1) return;
  if (result.code === 8) {
    fail(
      "IMAGE_FS_UNSUPPORTED",
      "the payload is not an ext4 file system; only ext4 images can be edited",
    );
  }
  fail(
    "E2FS_FAILED",
    `fsck.ext4 -a found errors it could not correct in the image (exit ${result.code})`,
  );
}

/** True when the image has an ext2/3/4 superblock (magic 0xEF53 at byte 1080). */
export async function isExtImage(path: string): Promise<boolean> {
  const handle = await fs.open(path, "r");
  try {
    const buffer = new Uint8Array(2);
    const { bytesRead } = await handle.read(buffer, 0, 2, 1080);
    return bytesRead === 2 && buffer[0] === 0x53 && buffer[1] === 0xef;
  } finally {
    await handle.close();
  }
}

export async function requireDirectory(image: string, path: string): Promise<void> {
  const dir = goDir(path);
  await debugfs(`cd ${quote(dir)}`, image).catch(() =>
    fail("IMAGE_NOT_FOUND", `the directory ${dir} does not exist in the image`)
  );
}

/** Puts `hostFile` at `path` (its mode comes from the host file, owner root). */
export async function replaceFile(image: string, path: string, hostFile: string): Promise<void> {
  await debugfs(`cd ${quote(goDir(path))}\nclose`, image);
  // Fails when there is nothing to replace, which is fine (mender-artifact ignores it too).
  await debugfs(`rm ${quote(path)}\nclose`, image).catch(() => {});
  await debugfs(
    `cd ${quote(goDir(path))}\nwrite ${quote(hostFile)} ${quote(goBase(path))}\nclose`,
    image,
  );
}

/** The permission bits of `path` in the image. */
export async function fileMode(image: string, path: string): Promise<number> {
  const stat = await debugfs(`stat ${quote(path)}`, image, false).catch((error) => {
    if (error?.code === "IMAGE_NOT_FOUND") {
      fail("IMAGE_NOT_FOUND", `${path} does not exist in the image`);
    }
    throw error;
  });
  const mode = /Mode: +([0-7]+)/.exec(stat);
  if (!mode?.[1]) fail("E2FS_FAILED", `debugfs printed no mode for ${path}`);
  return parseInt(mode[1], 8) & 0o7777;
}

/** Copies `path` out of the image to `hostFile`, with its mode. */
export async function copyOut(image: string, path: string, hostFile: string): Promise<void> {
  const mode = await fileMode(image, path);
  await debugfs(`dump ${quote(path)} ${quote(hostFile)}\nclose`, image);
  await fs.chmod(hostFile, mode);
}

/** Removes a file, or with a trailing `/` a directory (its contents too when recursive). */
export async function removePath(image: string, path: string, recursive: boolean): Promise<void> {
  await debugfs(`cd ${quote(goDir(path))}`, image).catch(() =>
    fail("IMAGE_NOT_FOUND", `the directory ${goDir(path)} does not exist in the image`)
  );
  if (goDir(path) === goClean(path)) return removeDirectory(image, path, recursive);
  await debugfs(`rm ${quote(path)}\nclose`, image);
}

async function removeDirectory(image: string, path: string, recursive: boolean): Promise<void> {
  const dir = path.replace(/\/+$/, "") || "/";
  try {
    await debugfs(`rmdir ${quote(dir)}`, image);
  } catch (error) {
    if (!recursive || !/not empty/.test((error as Error).message)) throw error;
    // `ls -p` prints /inode/mode/uid/gid/name/size/ per entry: names cannot hold a slash.
    for (const line of (await debugfs(`ls -p ${quote(dir)}`, image, false)).split("\n")) {
      const entry = /^\/\d+\/(\d+)\/\d+\/\d+\/(.*)\/\d*\/$/.exec(line);
      if (!entry?.[2] || entry[2] === "." || entry[2] === "..") continue;
      const child = `${dir === "/" ? "" : dir}/${entry[2]}`;
      if ((parseInt(entry[1] ?? "0", 8) & 0o170000) === 0o040000) {
        await removeDirectory(image, child, true);
      } else await debugfs(`rm ${quote(child)}\nclose`, image);
    }
    await debugfs(`rmdir ${quote(dir)}`, image);
  }
}

/** Creates a directory and its missing parents (mode 0755); an existing one is fine. */
export async function makeDirectory(image: string, path: string): Promise<void> {
  if (await debugfs(`stat ${quote(path)}`, image, false).then(() => true, () => false)) return;
  const dir = path.replace(/\/+$/, "");
  const [parent] = goSplit(dir);
  if (parent !== "") await makeDirectory(image, parent);
  await debugfs(`mkdir ${quote(dir)}`, image);
}

/** Dumps `path` into a fresh temporary directory; returns the file and a cleanup. */
export async function dumpToTemp(
  image: string,
  path: string,
): Promise<{ file: string } & AsyncDisposable> {
  const dir = await fs.mkdtemp(join(tmpdir(), "ota-cat-"));
  const dispose = () => fs.rm(dir, { recursive: true, force: true });
  try {
    await requireDirectory(image, path);
    const file = join(dir, "file");
    await fileMode(image, path);
    await debugfs(`dump ${quote(path)} ${quote(file)}`, image, false);
    return { file, [Symbol.asyncDispose]: dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}
