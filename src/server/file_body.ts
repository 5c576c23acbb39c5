/**
 * The bytes of a served file, sent only while it is still the file that was verified: it is
 * opened and its stamp (dev, inode, size, mtime, ctime) compared once at the request, again
 * every 16 MiB and again before the last chunk goes out. A file rewritten in place, renamed
 * over or cut short breaks the body off (the stream errors, the server drops the
 * connection), so no client ever receives a complete 200/206 body of other bytes under the
 * ETag and Repr-Digest of the verified ones. A replaced file is answered 503 until the
 * catalog has verified the new one.
 */
import { promises as fs } from "node:fs";
import { collectEvery } from "../platform.ts";
import type { ByteStream } from "../streams.ts";
import { type FileStamp, sameStamp, stampOf } from "./inspect.ts";

const CHUNK = 256 * 1024;
const CHECK_EVERY = 16 * 1024 * 1024;
/** Sent chunks are garbage at once, but Bun collects them late: all transfers count here. */
const collect = collectEvery(64 * 1024 * 1024);

/** The open file when it is still the one stamped, else undefined (and nothing is open). */
export async function openStamped(
  path: string,
  stamp: FileStamp,
): Promise<fs.FileHandle | undefined> {
  const handle = await fs.open(path, "r").catch(() => undefined);
  if (!handle) return undefined;
  const now = await handle.stat().catch(() => undefined);
  if (now && sameStamp(stampOf(now), stamp)) return handle;
  await handle.close();
  return undefined;
}

/** Bytes `[start, end)` of the open, stamped file; takes the handle over and closes it. */
export function stampedBody(
  handle: fs.FileHandle,
  stamp: FileStamp,
  start: number,
  end: number,
  onChanged: () => void,
): ByteStream {
  let position = start;
  let sinceCheck = 0;
  let open = true;
  const close = async () => {
    if (open) await handle.close().catch(() => {});
    open = false;
  };
  const broken = async (why: string): Promise<never> => {
    await close();
    onChanged();
    throw new Error(`the file ${why} during the transfer`);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const want = Math.min(CHUNK, end - position);
      const buffer = new Uint8Array(want);
      const { bytesRead } = await handle.read(buffer, 0, want, position)
        .catch(() => ({ bytesRead: -1 }));
      if (bytesRead !== want) return await broken("was cut short or could not be read");
      position += want;
      sinceCheck += want;
      if (position >= end || sinceCheck >= CHECK_EVERY) {
        sinceCheck = 0;
        const now = await handle.stat().catch(() => undefined);
        if (!now || !sameStamp(stampOf(now), stamp)) return await broken("changed");
      }
      collect(want);
      controller.enqueue(buffer);
      if (position >= end) {
        await close();
        controller.close();
      }
    },
    cancel: close,
  }, { highWaterMark: 0 });
}
