/**
 * `--keep-for-peers DIR`: while an artifact streams into the installer, the same bytes are
 * written to `DIR/.NAME.part`; at the end the copy is verified completely (every checksum,
 * the signature when keys are configured) and only then renamed to `DIR/NAME`, where a
 * running `ota serve DIR` lists it for the next devices. Keeping never fails the install:
 * a full disk or a bad copy only costs the copy.
 */
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { verifyArtifact } from "../artifact/reader.ts";
import type { VerifyKey } from "../artifact/signature.ts";
import { readFileStream, syncDir, writeFully } from "../files.ts";
import type { ByteStream } from "../streams.ts";

export interface KeepOptions {
  dir: string;
  /** The file name to keep it as (one plain segment ending in .mender). */
  file: string;
  size?: number;
  /** Refuse to keep when the directory would then hold more than this many bytes. */
  maxDirBytes?: number;
  verifyKeys?: VerifyKey[];
  log?: (message: string) => void;
}

async function usedBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const stat = await fs.stat(join(dir, name)).catch(() => undefined);
    if (stat?.isFile()) total += stat.size;
  }
  return total;
}

/** Free bytes on the directory's file system, when the runtime can tell. */
async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const stat = await fs.statfs(dir);
    return stat.bavail * stat.bsize;
  } catch {
    return undefined;
  }
}

/** Why the copy cannot be kept, or undefined when it fits the limits. */
export async function keepRefusal(options: KeepOptions): Promise<string | undefined> {
  await fs.mkdir(options.dir, { recursive: true });
  const size = options.size ?? 0;
  if (options.maxDirBytes !== undefined) {
    const used = await usedBytes(options.dir);
    if (used + size > options.maxDirBytes) {
      return `${options.dir} would hold ${
        used + size
      } bytes, over its limit of ${options.maxDirBytes}`;
    }
  }
  const free = await freeBytes(options.dir);
  // Leave room for the system: never fill the last 5 % (or 64 MiB) of the disk.
  if (free !== undefined && size > free - Math.max(64 * 1024 * 1024, free * 0.05)) {
    return `${options.dir} has only ${free} bytes free`;
  }
  return undefined;
}

/** Passes `input` through unchanged, writing a verified copy on the side. */
export async function keepWhileStreaming(
  input: ByteStream,
  options: KeepOptions,
): Promise<ByteStream> {
  const log = options.log ?? (() => {});
  const refusal = await keepRefusal(options);
  if (refusal) {
    log(`not keeping a copy for peers: ${refusal}`);
    return input;
  }
  const part = join(options.dir, `.${options.file}.part`);
  const target = join(options.dir, options.file);
  let handle: fs.FileHandle | undefined = await fs.open(part, "w");
  let offset = 0;
  const reader = input.getReader();
  const drop = async (why: string) => {
    await handle?.close().catch(() => {});
    handle = undefined;
    await fs.rm(part, { force: true });
    log(`not keeping a copy for peers: ${why}`);
  };
  const finish = async () => {
    if (!handle) return;
    await handle.close();
    handle = undefined;
    try {
      await verifyArtifact(readFileStream(part), { verifyKeys: options.verifyKeys });
      await fs.rename(part, target);
      await syncDir(options.dir);
      log(`kept a verified copy for peers: ${target}`);
    } catch (error) {
      await drop(`the copy did not verify (${(error as Error).message})`);
    }
  };
  const write = async (chunk: Uint8Array) => {
    if (!handle) return;
    try {
      await writeFully(handle, chunk, offset);
      offset += chunk.byteLength;
    } catch (error) {
      await drop((error as NodeJS.ErrnoException).code ?? String(error));
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (error) {
        await drop("the download failed");
        throw error;
      }
      if (result.done) {
        await finish();
        controller.close();
        return;
      }
      await write(result.value);
      controller.enqueue(result.value);
    },
    async cancel(reason) {
      // The artifact reader may stop at the end-of-archive blocks and leave the tar's
      // padding unread: fetch that little rest for the copy; anything more is a failed install.
      if (handle && options.size !== undefined && options.size - offset <= 1024 * 1024) {
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            await write(value);
          }
          await finish();
          return;
        } catch {
          // fall through: drop the copy
        }
      }
      if (handle) await drop("the install stopped before the end");
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
