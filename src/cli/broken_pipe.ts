/**
 * Output into a closed pipe (`ota --help | true`, `ota artifact read X | head -1`): the
 * reader has what it wanted, so ota stops quietly with exit 0 instead of printing EPIPE
 * with a stack trace. Bun throws EPIPE from the write itself, Node and Deno emit it on the
 * stream; either way the command unwinds (removing its temporary files) and ends here.
 */
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

export function exitQuietlyOnBrokenPipe(): void {
  if (installed) return;
  installed = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error) => {
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
