/**
 * The Download state of an Update Module. The module chooses the mode: it reads
 * `stream-next` (streams mode: each payload file is announced there and then written into
 * its own named pipe under streams/), or it exits without opening it (files mode: ota
 * then stores every file under files/). Either way the bytes pass the checksum before the
 * module can act on them, and a module that dies, stops reading or never finishes the
 * loop ends the download with an error instead of a hang. The unsigned files of an augment
 * (manifest-augment) go to streams-augment/ and files-augment/ instead, as Mender's module
 * protocol names them, so a module never takes them for signed ones.
 */
import { constants, promises as fs } from "node:fs";
import { join } from "node:path";
import type { PayloadFile } from "../artifact/payload.ts";
import { fail, OtaError } from "../errors.ts";
import { unfilledBytes, writeFully } from "../files.ts";
import { runTool } from "../process.ts";

export interface ModuleProcess {
  /** Settles when the module's Download call exits: its exit code, or an error (timeout). */
  done: Promise<number>;
}

const EXITED: unique symbol = Symbol("exited");

/** write(2) in order: pipes have no position, so no pwrite. */
async function writeSequential(handle: fs.FileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset, null);
    offset += bytesWritten;
  }
}

async function mkfifo(path: string): Promise<void> {
  await runTool("MODULE_FIFO", "mkfifo", ["-m", "600", path]);
}

/**
 * Opens a FIFO for writing, which blocks until the module opens it for reading. If the
 * module exits first, the pending open is released by opening the reading end ourselves.
 */
async function openForModule(
  path: string,
  module: ModuleProcess,
): Promise<fs.FileHandle | typeof EXITED> {
  const opening = fs.open(path, constants.O_WRONLY);
  const exited = module.done.then((): typeof EXITED => EXITED, (): typeof EXITED => EXITED);
  const winner = await Promise.race([opening, exited]);
  if (winner !== EXITED) return winner;
  const unblock = await fs.open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch(() =>
    undefined
  );
  await opening.then((h) => h.close()).catch(() => {});
  await unblock?.close();
  await module.done; // a module stopped for its timeout reports that, not just "exited"
  return EXITED;
}

/** Bytes a FIFO write carries: a few large writes instead of one per 256 KiB chunk. */
const POUR_BLOCK = 1024 * 1024;

/**
 * Writes a whole stream into a FIFO, failing if the module exits before reading it all.
 * The bytes go out in 1 MiB blocks from two reused buffers: one is written while the next
 * fills, so the module copies while ota reads and verifies, and nothing is left for the
 * garbage collector.
 */
async function pour(
  handle: fs.FileHandle,
  file: PayloadFile,
  module: ModuleProcess,
  onBytes?: (n: number) => void,
) {
  let written = 0;
  const exited = module.done.then(() => false, () => false);
  const stopped = async (): Promise<never> => {
    await file.stream.cancel().catch(() => {});
    await module.done; // the module's timeout, if that is what stopped it
    fail(
      "MODULE_STREAM",
      `the module exited before reading all of ${file.name} (${written} of ${file.size} bytes)`,
    );
  };
  const blocks = [unfilledBytes(POUR_BLOCK), unfilledBytes(POUR_BLOCK)];
  let turn = 0;
  let filled = 0;
  let inFlight: Promise<boolean> | undefined;
  let inFlightBytes = 0;
  const settle = async () => {
    if (!inFlight) return;
    if (!(await inFlight)) await stopped();
    written += inFlightBytes;
    onBytes?.(written);
    inFlight = undefined;
  };
  const send = async () => {
    await settle(); // the other block is free again
    if (!filled) return;
    const write = writeSequential(handle, blocks[turn]!.subarray(0, filled)).then(() => true);
    write.catch(() => {}); // a write blocked on a full pipe fails once the module is gone
    inFlight = Promise.race([write, exited]);
    inFlight.catch(() => {}); // awaited in settle(); unawaited if the payload stream fails
    inFlightBytes = filled;
    turn ^= 1;
    filled = 0;
  };
  try {
    for await (const chunk of file.stream) {
      for (let offset = 0; offset < chunk.byteLength;) {
        const n = Math.min(chunk.byteLength - offset, POUR_BLOCK - filled);
        blocks[turn]!.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === POUR_BLOCK) await send();
      }
    }
    await send();
    await settle();
  } catch (error) {
    if (error instanceof OtaError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EPIPE") {
      fail("MODULE_STREAM", `the module stopped reading ${file.name} after ${written} bytes`);
    }
    throw error;
  }
}

async function announce(streamNext: string, line: string, module: ModuleProcess): Promise<boolean> {
  const handle = await openForModule(streamNext, module);
  if (handle === EXITED) return false;
  try {
    if (line) await writeSequential(handle, new TextEncoder().encode(line));
  } finally {
    await handle.close();
  }
  return true;
}

/** Where a payload file goes in the tree: `streams/` or `files/`, `-augment` when unsigned. */
async function place(tree: string, mode: "streams" | "files", file: PayloadFile) {
  const dir = file.augmented ? `${mode}-augment` : mode;
  await fs.mkdir(join(tree, dir), { recursive: true, mode: 0o700 });
  return `${dir}/${file.name}`;
}

/** Stores every file under files/, verified, for a module that chose files mode. */
async function filesMode(
  tree: string,
  files: AsyncIterator<PayloadFile>,
  first: IteratorResult<PayloadFile>,
  onBytes?: (n: number) => void,
) {
  await fs.mkdir(join(tree, "files"), { mode: 0o700 });
  let current = first;
  let total = 0;
  while (!current.done) {
    const file = current.value;
    const handle = await fs.open(join(tree, await place(tree, "files", file)), "w", 0o600);
    try {
      let position = 0;
      for await (const chunk of file.stream) {
        await writeFully(handle, chunk, position);
        position += chunk.byteLength;
        onBytes?.(total += chunk.byteLength);
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    current = await files.next();
  }
}

export async function moduleDownload(
  tree: string,
  payloadFiles: AsyncIterable<PayloadFile>,
  start: () => ModuleProcess,
  onBytes?: (n: number) => void,
): Promise<void> {
  const streamNext = join(tree, "stream-next");
  await fs.mkdir(join(tree, "streams"), { mode: 0o700 });
  await mkfifo(streamNext);
  const files = payloadFiles[Symbol.asyncIterator]();
  const module = start();
  let current = await files.next();
  let announced = 0;
  let total = 0;
  while (!current.done) {
    const file = current.value;
    const entry = await place(tree, "streams", file);
    const fifo = join(tree, entry);
    await mkfifo(fifo);
    if (!(await announce(streamNext, `${entry}\n`, module))) break;
    announced++;
    const handle = await openForModule(fifo, module);
    if (handle === EXITED) {
      fail(
        "MODULE_STREAM",
        `the module read the name of ${file.name} from stream-next but exited without reading the file`,
      );
    }
    try {
      await pour(handle, file, module, (n) => onBytes?.(total + n));
      total += file.size;
    } finally {
      await handle.close().catch(() => {});
    }
    current = await files.next();
  }
  if (!current.done && announced > 0) {
    fail(
      "MODULE_STREAM",
      `the module exited before reading all payload files (it read ${announced})`,
    );
  }
  if (current.done && !(await announce(streamNext, "", module))) {
    if (announced > 0) {
      fail(
        "MODULE_STREAM",
        "the module started reading the payload streams but did not finish (it never read the final empty entry of stream-next)",
      );
    }
  }
  const code = await module.done;
  if (code !== 0) fail("MODULE_FAILED", `the module's Download failed (exit ${code})`);
  await fs.rm(join(tree, "streams"), { recursive: true, force: true });
  await fs.rm(join(tree, "streams-augment"), { recursive: true, force: true });
  await fs.rm(streamNext, { force: true });
  if (announced === 0) await filesMode(tree, files, current, onBytes);
}
