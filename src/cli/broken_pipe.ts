/**
 * Output into a closed pipe (`ota --help | true`, `ota artifact read X | head -1`): the
 * reader has what it wanted, so ota stops quietly with exit 0 instead of printing EPIPE
 * with a stack trace. Bun throws EPIPE from the write itself; Node and Deno emit it on the
 * stream; both end here.
 */
import process from "node:process";

export function isBrokenPipe(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "EPIPE";
}

let installed = false;

export function exitQuietlyOnBrokenPipe(): void {
  if (installed) return;
  installed = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error) => {
      if (isBrokenPipe(error)) process.exit(0);
      throw error;
    });
  }
}
