/**
 * Output into a closed pipe (`ota --help | true`, `ota artifact read X | head -1`): the
 * reader has what it wanted, so ota stops quietly with exit 0 instead of printing EPIPE
 * with a stack trace. Bun throws EPIPE from the write itself, Node and Deno emit it on the
 * stream; either way the command unwinds (removing its temporary files) and ends here.
 */
import { fstatSync } from "node:fs";
import process from "node:process";

let broken = false;

export function isBrokenPipe(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "EPIPE" || (broken && code === "ERR_STREAM_DESTROYED");
}

/** True once stdout or stderr found its reader gone. */
export function pipeBroken(): boolean {
  return broken;
}

let installed = false;

/** True when writing to `fd` can find its reader gone: a pipe or a socket, not a file or tty. */
function canBreak(fd: number): boolean {
  try {
    const stat = fstatSync(fd);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return true;
  }
}

export function exitQuietlyOnBrokenPipe(): void {
  if (installed) return;
  installed = true;
  // Only where a pipe can break: making the stream objects costs several MiB in the binary,
  // which a command that waits for its input (a FIFO, a download) need not pay.
  const streams = [[1, () => process.stdout], [2, () => process.stderr]] as const;
  for (const [fd, stream] of streams) {
    if (!canBreak(fd)) continue;
    stream().on("error", (error) => {
      if (!isBrokenPipe(error)) throw error;
      broken = true;
    });
  }
}

/** Writes to stdout and waits until it drained; rejects when the reader is gone. */
export async function writeStdout(chunk: Uint8Array | string): Promise<void> {
  if (broken) throw Object.assign(new Error("stdout is closed"), { code: "EPIPE" });
  if (process.stdout.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => {
      process.stdout.off("drain", done);
      process.stdout.off("error", done);
      if (error) reject(error);
      else resolve();
    };
    process.stdout.once("drain", done);
    process.stdout.once("error", done);
  });
}
