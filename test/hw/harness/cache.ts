/**
 * Cache entries that are safe to build from cold by several boards and test processes at
 * once: one builder per entry (an flock on ENTRY.lock, released by the kernel if the builder
 * dies), the build made in a temporary directory beside the entry and renamed into place with
 * a `.done` marker only when it succeeded. A reader that sees `.done` sees a whole entry.
 * Within one process, concurrent callers share one attempt (and its failure).
 */
import { exists } from "./host.ts";

/** Holds an exclusive flock on PATH (created if missing) until disposed. */
export async function lockFile(path: string): Promise<AsyncDisposable> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const file = await Deno.open(path, { create: true, write: true });
  try {
    await file.lock(true);
    // in use now: cache cleanups that go by age leave it alone
    const now = new Date();
    await Deno.utime(path, now, now);
  } catch (error) {
    file.close();
    throw error;
  }
  return {
    [Symbol.asyncDispose]() {
      file.close(); // closing the last descriptor drops the lock
      return Promise.resolve();
    },
  };
}

/** True when ENTRY (a directory) holds a complete build. */
export function isBuilt(entry: string): Promise<boolean> {
  return exists(`${entry}/.done`);
}

const inFlight = new Map<string, Promise<string>>();

/** FN's promise, shared by the calls with the same KEY made while it is pending. */
export function shared(key: string, fn: () => Promise<string>): Promise<string> {
  let pending = inFlight.get(key);
  if (!pending) {
    pending = fn();
    inFlight.set(key, pending);
    pending.finally(() => inFlight.delete(key)).catch(() => {});
  }
  return pending;
}

/**
 * Returns ENTRY, running BUILD(tmp) first if no complete entry exists; tmp becomes ENTRY.
 * Concurrent callers wait for the one that builds; a failed build leaves no trace.
 */
export function cacheEntry(
  entry: string,
  build: (tmp: string) => Promise<void>,
): Promise<string> {
  return shared(entry, () => buildEntry(entry, build));
}

async function buildEntry(entry: string, build: (tmp: string) => Promise<void>): Promise<string> {
  if (await isBuilt(entry)) return entry;
  await using _lock = await lockFile(`${entry}.lock`);
  if (await isBuilt(entry)) return entry;
  const parent = entry.slice(0, entry.lastIndexOf("/"));
  const base = entry.slice(parent.length + 1);
  // what is here without the marker was left by a builder that died: only the lock holder builds
  for await (const e of Deno.readDir(parent)) {
    if (e.name.startsWith(`${base}.tmp-`)) {
      await Deno.remove(`${parent}/${e.name}`, { recursive: true }).catch(() => {});
    }
  }
  await Deno.remove(entry, { recursive: true }).catch(() => {});
  const tmp = `${entry}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp);
  try {
    await build(tmp);
    await Deno.writeTextFile(`${tmp}/.done`, new Date().toISOString() + "\n");
    await Deno.rename(tmp, entry);
  } catch (error) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    // a builder that did not see this lock (its file removed meanwhile) may have won the race
    if (await isBuilt(entry)) return entry;
    throw error;
  }
  return entry;
}
