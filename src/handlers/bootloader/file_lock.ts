/**
 * An flock(2) on a file, held while a function runs: the lock grub-mender-grubenv's tools
 * take (/var/lock/grub-mender-grubenv-set.lock), so ota and they never edit the GRUB
 * environment at once. The portable runtimes have no flock, so util-linux's `flock` holds
 * it: it takes the lock, says so, and keeps it until its standard input closes (also when
 * ota dies). Without `flock`, or where the lock file cannot be made (then no one can hold
 * it), the function runs unlocked.
 */
import { spawn } from "node:child_process";
import { fail } from "../../errors.ts";

const BUSY = 75;

export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  waitMs = 5000,
  debug: (message: string) => void = () => {},
): Promise<T> {
  const seconds = String(Math.max(waitMs, 1) / 1000);
  const child = spawn(
    "flock",
    ["-w", seconds, "-E", String(BUSY), path, "sh", "-c", "echo locked; exec cat >/dev/null"],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  child.stdin!.on("error", () => {}); // flock gone (not installed): its exit tells
  let stderr = "";
  child.stderr!.on("data", (chunk: Uint8Array) => stderr += new TextDecoder().decode(chunk));
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.once("error", () => resolve(null));
  });
  const locked = await new Promise<boolean>((resolve) => {
    child.stdout!.once("data", () => resolve(true));
    exited.then(() => resolve(false));
  });
  if (!locked) {
    const code = await exited;
    if (code === BUSY) {
      fail(
        "BOOTENV_LOCKED",
        `${path} is held by another program (grub-mender-grubenv-set?) for over ${seconds} s; try again`,
      );
    }
    debug(`no lock on ${path} (${stderr.trim() || "flock is not installed"}): going on without`);
    return await fn();
  }
  try {
    return await fn();
  } finally {
    child.stdin!.end();
    await exited;
  }
}
