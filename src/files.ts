/** File I/O helpers on `node:fs`: streams of large chunks, and crash-safe writes. */
import { Buffer } from "node:buffer";
import { constants, promises as fs } from "node:fs";
import { dirname } from "node:path";
import { OtaError } from "./errors.ts";
import type { ByteStream } from "./streams.ts";

/**
 * 256 KiB: hashing and unpacking are as fast as with 1 MiB chunks, and the peak memory is
 * lower (each chunk is garbage soon after use, and the runtime collects it late): validating
 * a 256 MiB artifact peaked 12 MiB lower at the same CPU time.
 */
const CHUNK = 256 * 1024;

/**
 * A new buffer that is not zeroed first: each is filled by a read at once, and zeroing
 * 1 GiB of them cost more CPU than reading it from the page cache. A plain Uint8Array over
 * memory of its own, never a slice of a shared pool.
 */
export function unfilledBytes(size: number): Uint8Array {
  const buffer = Buffer.allocUnsafeSlow(size);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, size);
}

/**
 * A file (or block device, or pipe) as a stream of `chunk`-sized chunks (256 KiB unless
 * given), from `start` for `length` bytes. Read errors become FILE_READ errors that name
 * the file.
 */
export function readFileStream(
  path: string,
  start = 0,
  length = Infinity,
  chunk = CHUNK,
): ByteStream {
  let handle: fs.FileHandle | undefined;
  // From the start, read sequentially: a pipe (a FIFO, /dev/stdin) cannot seek.
  let position: number | null = start > 0 ? start : null;
  let left = length;
  const failed = (error: unknown): never => {
    throw new OtaError("FILE_READ", `cannot read ${path}: ${(error as Error).message}`);
  };
  return new ReadableStream<Uint8Array>({
    async start() {
      handle = await fs.open(path, "r").catch(failed);
    },
    async pull(controller) {
      const want = Math.min(chunk, left);
      const buffer = unfilledBytes(want);
      const { bytesRead } = await handle!.read(buffer, 0, want, position).catch(failed);
      if (position !== null) position += bytesRead;
      left -= bytesRead;
      if (bytesRead > 0) {
        controller.enqueue(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
      }
      if (bytesRead === 0 || left <= 0) {
        await handle!.close();
        handle = undefined;
        controller.close();
      }
    },
    async cancel() {
      await handle?.close();
      handle = undefined;
    },
  }, { highWaterMark: 2 });
}

/**
 * A file's bytes through two reused buffers in turn, for a consumer that is done with each
 * chunk before it asks for the next (hashing): the next read runs while the consumer works,
 * and nothing is left for the garbage collector. Read errors become FILE_READ errors.
 */
export async function* readFileInTurns(
  path: string,
  size = 1024 * 1024,
): AsyncGenerator<Uint8Array> {
  const failed = (error: unknown): never => {
    throw new OtaError("FILE_READ", `cannot read ${path}: ${(error as Error).message}`);
  };
  const handle = await fs.open(path, "r").catch(failed);
  try {
    const buffers = [unfilledBytes(size), unfilledBytes(size)];
    let turn = 0;
    const read = (buffer: Uint8Array) =>
      handle.read(buffer, 0, size, null).then((r) => r.bytesRead, failed);
    let reading = read(buffers[0]!);
    while (true) {
      const bytesRead = await reading;
      if (bytesRead === 0) return;
      const chunk = buffers[turn]!.subarray(0, bytesRead);
      turn ^= 1;
      reading = read(buffers[turn]!);
      reading.catch(() => {}); // awaited at the next turn, or dropped if the consumer stops
      yield chunk;
    }
  } finally {
    await handle.close();
  }
}

/** Writes all of `buffer` at `position` (pwrite loops until done). */
export async function writeFully(
  handle: fs.FileHandle,
  buffer: Uint8Array,
  position: number,
): Promise<void> {
  let offset = 0;
  while (offset < buffer.byteLength) {
    const { bytesWritten } = await handle.write(
      buffer,
      offset,
      buffer.byteLength - offset,
      position + offset,
    );
    offset += bytesWritten;
  }
}

/** fsync of a directory, so a rename inside it survives a power cut. */
export async function syncDir(path: string): Promise<void> {
  const handle = await fs.open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a new file and fsyncs it, for files that must survive a power cut once their
 * directory is synced too (without fsync, ext4 can bring them back as zeros).
 */
export async function writeDurable(
  path: string,
  data: Uint8Array | string,
  mode = 0o600,
): Promise<void> {
  const handle = await fs.open(path, "w", mode);
  try {
    await writeFully(handle, typeof data === "string" ? Buffer.from(data) : data, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` atomically: write a temporary file, fsync it, rename it over the
 * target, fsync the directory. A power cut leaves either the old or the new content.
 */
export async function atomicWriteFile(
  path: string,
  data: Uint8Array | string,
  mode = 0o600,
): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  await writeDurable(temp, data, mode);
  await fs.rename(temp, path);
  await syncDir(dirname(path));
}

export async function exists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads a small file as text, or undefined when it does not exist. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
