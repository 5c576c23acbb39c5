/**
 * Writes an image into a partition. Direct I/O (O_DIRECT) where the device allows it: the
 * bytes go to the device instead of piling up in the page cache to be flushed at the
 * end, which on a loop device or an SD card is most of an install's time. Two reused
 * 1 MiB blocks keep writes large, make no garbage, and let one block be written while
 * the next one fills (the disk works while the data is decompressed and hashed); a device
 * that refuses direct I/O (or an unaligned buffer) is written through the page cache
 * instead. Always fsynced.
 */
import { constants, promises as fs } from "node:fs";
import { writeFully } from "../files.ts";

const BLOCK = 1024 * 1024;
/** Direct I/O needs writes in whole logical blocks; 4 KiB covers every device. */
const ALIGN = 4096;

async function openDirect(path: string): Promise<fs.FileHandle | undefined> {
  try {
    return await fs.open(path, constants.O_WRONLY | constants.O_DIRECT);
  } catch {
    return undefined;
  }
}

export async function writePartition(
  path: string,
  stream: ReadableStream<Uint8Array>,
  onBytes?: (written: number) => void,
): Promise<number> {
  let direct = await openDirect(path);
  let buffered = direct ? undefined : await fs.open(path, "r+");
  const blocks: [Uint8Array, Uint8Array] = [new Uint8Array(BLOCK), new Uint8Array(BLOCK)];
  let current: 0 | 1 = 0;
  let block = blocks[current];
  /** The write of the other block, still under way. */
  let inFlight: Promise<void> = Promise.resolve();
  let filled = 0;
  let position = 0;

  const writeBuffered = async (bytes: Uint8Array, at: number) => {
    buffered ??= await fs.open(path, "r+");
    await writeFully(buffered, bytes, at);
  };
  const write = async (bytes: Uint8Array, at: number) => {
    if (!direct) return await writeBuffered(bytes, at);
    const aligned = bytes.byteLength - (bytes.byteLength % ALIGN);
    try {
      if (aligned) await writeFully(direct, bytes.subarray(0, aligned), at);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EINVAL") throw error;
      await direct.close(); // the device or the buffer does not allow direct I/O
      direct = undefined;
      return await writeBuffered(bytes, at);
    }
    if (aligned < bytes.byteLength) await writeBuffered(bytes.subarray(aligned), at + aligned);
  };
  const flush = async () => {
    if (!filled) return;
    await inFlight; // the other block is free again
    const bytes = block.subarray(0, filled);
    const at = position;
    position += filled;
    inFlight = write(bytes, at).then(() => onBytes?.(at + bytes.byteLength));
    inFlight.catch(() => {}); // awaited below; do not report it twice
    current = current ? 0 : 1;
    block = blocks[current];
    filled = 0;
  };

  try {
    for await (const chunk of stream) {
      let offset = 0;
      while (offset < chunk.byteLength) {
        const n = Math.min(chunk.byteLength - offset, BLOCK - filled);
        block.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === BLOCK) await flush();
      }
    }
    await flush();
    await inFlight;
    await direct?.sync();
    await buffered?.sync();
    return position;
  } finally {
    await inFlight.catch(() => {});
    await direct?.close();
    await buffered?.close();
  }
}
