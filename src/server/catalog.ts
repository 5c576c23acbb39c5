/**
 * What `ota serve` offers: the `.mender` files at the top of one directory, each verified
 * completely before it is listed. The directory is rescanned on a timer and when it changes.
 * A file is verified only once it was untouched for a second by its ctime (which every write
 * moves and which `cp -p` or `touch` cannot set back), so a file still being copied is never
 * listed; its stamp (dev, inode, size, mtime, ctime) must be the same after verification as
 * before, and any later change of it sends the file back to verification. One that stops
 * growing but is cut short is listed (as invalid) only after it settled for a while.
 * `ready()` is the first complete scan: the server listens only after it.
 */
import { promises as fs, watch } from "node:fs";
import { join, sep } from "node:path";
import type { VerifyKey } from "../artifact/signature.ts";
import { fail } from "../errors.ts";
import { sleep } from "../http/backoff.ts";
import { type FileStamp, inspectFile, lastChange, sameStamp, stampOf } from "./inspect.ts";
import type { ListedFile } from "./listing.ts";

export interface CatalogOptions {
  dir: string;
  verifyKeys?: VerifyKey[];
  /** Pause between scans. */
  intervalMs?: number;
  /** A file must be untouched this long before it is verified. */
  quietMs?: number;
  /** A truncated file is listed as invalid only after it stayed unchanged this long. */
  settleMs?: number;
  log?: (line: string) => void;
}

/** A valid artifact ready to be served. */
export interface Served {
  file: string;
  /** Real path inside the directory (symlinks resolved). */
  path: string;
  stamp: FileStamp;
  listed: ListedFile;
}

export interface Catalog {
  /** Listed files, valid and invalid, sorted by name. */
  list(): ListedFile[];
  /** Files seen but not (yet) listed. */
  pending(): number;
  /** The valid artifact called `file`, or undefined; only exact names of listed files match. */
  lookup(file: string): Served | undefined;
  /**
   * True when `file` is there but not verified yet: new (not scanned yet: a scan is asked
   * for), changed, or still settling.
   */
  awaits(file: string): Promise<boolean>;
  /** One full scan, verifications included. */
  scan(): Promise<void>;
  /** The first scan, repeated for a short while when a file was still being written. */
  ready(): Promise<void>;
  /** Asks for a scan soon (a served file changed, or the directory did). */
  poke(): void;
  start(): void;
  stop(): Promise<void>;
}

interface Tracked {
  path: string;
  stamp: FileStamp;
  /** The verification result for `stamp`. */
  result?: ListedFile;
}

/** A name the catalog looks at: a visible `.mender` file at the top of the directory. */
function isCandidate(name: string): boolean {
  return !name.startsWith(".") && name.toLowerCase().endsWith(".mender") &&
    !/[/\\\0]/.test(name);
}

export async function openCatalog(options: CatalogOptions): Promise<Catalog> {
  const interval = options.intervalMs ?? 2000;
  const quiet = options.quietMs ?? 1000;
  const settle = options.settleMs ?? 10_000;
  const log = options.log ?? (() => {});
  const keys = options.verifyKeys ?? [];
  let root: string;
  try {
    root = await fs.realpath(options.dir);
    if (!(await fs.stat(root)).isDirectory()) throw new Error("not a directory");
  } catch (error) {
    fail(
      "SERVE_DIR",
      `cannot serve ${options.dir}: ${
        (error as NodeJS.ErrnoException).code ?? (error as Error).message
      }; give a directory holding .mender files`,
    );
  }
  const tracked = new Map<string, Tracked>();
  let scanning: Promise<void> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let watcher: { close(): void } | undefined;
  let stopped = false;

  /** The real path of a candidate, or undefined when it is not a plain file inside root. */
  async function resolve(name: string): Promise<{ path: string; stamp: FileStamp } | undefined> {
    const path = join(root, name);
    const link = await fs.lstat(path);
    let real = path;
    if (link.isSymbolicLink()) {
      real = await fs.realpath(path);
      const inside = real.startsWith(root + sep) && !real.slice(root.length + 1).includes(sep);
      const hidden = real.slice(root.length + 1).startsWith(".");
      if (!inside || hidden) return undefined;
    }
    const stat = await fs.stat(real);
    if (!stat.isFile()) return undefined;
    return { path: real, stamp: stampOf(stat) };
  }

  /** Scans once; true when some file waits for its next look (so look again soon). */
  async function scanOnce(): Promise<boolean> {
    let names: string[];
    try {
      names = await fs.readdir(root);
    } catch (error) {
      log(`cannot read ${root}: ${(error as NodeJS.ErrnoException).code}`);
      return false;
    }
    let waiting = false;
    const present = new Set<string>();
    for (const name of names.sort()) {
      if (!isCandidate(name)) continue;
      const found = await resolve(name).catch(() => undefined);
      if (!found) continue;
      present.add(name);
      let known = tracked.get(name);
      if (!known || known.path !== found.path || !sameStamp(known.stamp, found.stamp)) {
        if (known?.result) log(`${name} changed; verifying it again once it is complete`);
        known = { ...found };
        tracked.set(name, known);
      }
      if (known.result) continue;
      if (Date.now() - lastChange(found.stamp) < quiet) {
        waiting = true;
        continue;
      }
      const result = await inspectFile(found.path, name, found.stamp, keys);
      const after = await resolve(name).catch(() => undefined);
      if (!after || after.path !== found.path || !sameStamp(after.stamp, found.stamp)) {
        waiting = true;
        continue;
      }
      known.result = result;
      if (!isHidden(known)) report(result);
      else log(`${name} ends early; listed (as invalid) if it stays so for ${settle / 1000} s`);
    }
    for (const name of tracked.keys()) {
      if (!present.has(name)) {
        tracked.delete(name);
        log(`${name} is gone`);
      }
    }
    return waiting;
  }

  function report(result: ListedFile): void {
    if (result.valid) {
      log(`${result.file}: valid artifact ${result.artifact!.name} (${result.size} bytes)`);
    } else log(`${result.file}: invalid: ${result.error?.message} [${result.error?.code}]`);
  }

  /** A truncated file may still be arriving: keep it out of the listing until it settles. */
  function isHidden(entry: Tracked): boolean {
    return !entry.result ||
      (entry.result.error?.code === "ARTIFACT_TRUNCATED" &&
        Date.now() - lastChange(entry.stamp) < settle);
  }

  let waiting = false;
  function scan(): Promise<void> {
    scanning ??= scanOnce().then((w) => {
      waiting = w;
    }).finally(() => scanning = undefined);
    return scanning;
  }

  let dueAt = Infinity;
  /** A scan in `delay` ms, unless one is due sooner: requests that poke often never starve it. */
  function schedule(delay: number): void {
    if (stopped || Date.now() + delay >= dueAt) return;
    clearTimeout(timer);
    dueAt = Date.now() + delay;
    timer = setTimeout(async () => {
      dueAt = Infinity;
      await scan().catch((error) => log(`scan failed: ${(error as Error).message}`));
      schedule(waiting ? Math.min(interval, quiet) : interval);
    }, delay);
  }

  return {
    list: () =>
      [...tracked.values()].filter((t) => !isHidden(t)).map((t) => t.result!).sort((a, b) =>
        a.file < b.file ? -1 : a.file > b.file ? 1 : 0
      ),
    pending: () => [...tracked.values()].filter(isHidden).length,
    lookup(file) {
      const entry = tracked.get(file);
      if (!entry?.result?.valid || isHidden(entry)) return undefined;
      return { file, path: entry.path, stamp: entry.stamp, listed: entry.result };
    },
    async awaits(file) {
      const entry = tracked.get(file);
      if (entry) return isHidden(entry);
      if (!isCandidate(file) || !(await resolve(file).catch(() => undefined))) return false;
      schedule(200);
      return true;
    },
    scan,
    async ready() {
      // Files written just before the start are waited for, a little: those being copied
      // still are pending after it (answered 503 until verified).
      const deadline = Date.now() + quiet + 1500;
      await scan();
      while (waiting && Date.now() < deadline) {
        await sleep(Math.min(quiet, 250));
        await scan();
      }
    },
    poke: () => schedule(200),
    start() {
      stopped = false;
      schedule(0);
      try {
        watcher = watch(root, () => schedule(200));
      } catch {
        // Without change events the timer still rescans.
      }
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      dueAt = Infinity;
      watcher?.close();
      await scanning;
    },
  };
}
