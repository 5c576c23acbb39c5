/** Artifacts for the server and peer tests, written by Debian's real mender-artifact. */
import { pseudoRandomBytes, sh } from "../helpers/mod.ts";
import { xorAt } from "../helpers/assert.ts";

/** Writes `<dir>/<name>.mender` for `deviceType` with a rootfs of `size` bytes. */
export async function menderArtifact(
  dir: string,
  name: string,
  deviceType: string,
  size = 200_000,
  compression = "none",
): Promise<string> {
  const rootfs = `${dir}/.${name}.rootfs`;
  await Deno.writeFile(rootfs, pseudoRandomBytes(size, name.length + size));
  const out = `${dir}/${name}.mender`;
  await sh([
    "mender-artifact",
    "write",
    "rootfs-image",
    "-n",
    name,
    "-t",
    deviceType,
    "-f",
    rootfs,
    "-o",
    out,
    "--compression",
    compression,
  ]);
  await Deno.remove(rootfs);
  return out;
}

/** Flips one byte in the middle of a file (inside the payload of a large artifact). */
export async function flipByte(path: string, at?: number): Promise<void> {
  const bytes = await Deno.readFile(path);
  const position = at ?? Math.floor(bytes.byteLength / 2);
  xorAt(bytes, position, 0xff);
  await Deno.writeFile(path, bytes);
}

/** Polls `check` every 100 ms until it returns a value, for at most `ms`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  ms = 15_000,
  what = "the condition",
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
