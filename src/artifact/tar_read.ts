/**
 * Reading tar, strictly and only as far as artifacts need: ustar headers (octal or base-256
 * numbers), PAX `x` records for path, linkpath and size, GNU long names. Each entry keeps
 * its type flag as stored, so the artifact reader can refuse what it does not implement (GNU
 * sparse `S`, multi-volume `M`, PAX sparse files, flags no tar defines) instead of taking
 * the stored bytes for a file's content, as a reader that maps unknown flags to "file" does.
 * Bodies stream in order; whatever a consumer leaves unread is skipped.
 */
import { fail } from "../errors.ts";
import type { ByteStream } from "../streams.ts";

const BLOCK = 512;
/** PAX records and GNU long names are small; a bigger one is not an artifact's. */
const MAX_META_BYTES = 1024 * 1024;

/** A broken tar stream; `truncated` when it ends before the archive does. */
export class TarFormatError extends Error {
  override readonly name = "TarFormatError";
  constructor(message: string, readonly truncated = false) {
    super(message);
  }
}

export type TarEntryType =
  | "file"
  | "directory"
  | "link"
  | "symlink"
  | "character-device"
  | "block-device"
  | "fifo"
  | "sparse"
  | "unsupported";

export interface TarHeader {
  name: string;
  /** Bytes of the body as stored in the archive. */
  size: number;
  type: TarEntryType;
  /** The type flag byte as stored: "0", "5", "S", "\0" ... */
  typeflag: string;
  linkname: string;
  /** Modification time, whole seconds since the epoch. */
  mtime: number;
}

export interface TarEntry {
  header: TarHeader;
  body: ByteStream;
}

export interface TarReader {
  /** The next entry, after skipping what is left of the previous body; undefined at the end. */
  next(): Promise<TarEntry | undefined>;
  cancel(reason?: unknown): Promise<void>;
}

const types = new Map<string, TarEntryType>([
  ["0", "file"],
  ["\0", "file"],
  ["1", "link"],
  ["2", "symlink"],
  ["3", "character-device"],
  ["4", "block-device"],
  ["5", "directory"],
  ["6", "fifo"],
  ["S", "sparse"],
]);

/** What an entry is, for messages: "a symlink", "a GNU sparse file", "an entry of tar type 'M'". */
export function describeEntry(header: TarHeader): string {
  if (header.type === "sparse") {
    return header.typeflag === "S" ? "a GNU sparse file" : "a PAX sparse file";
  }
  if (header.type === "unsupported") {
    return `an entry of tar type ${JSON.stringify(header.typeflag)}` +
      (header.typeflag === "M" ? " (a multi-volume continuation)" : "");
  }
  return header.type === "link" ? "a hard link" : `a ${header.type}`;
}

/**
 * Refuses a tar entry that is not a plain file. Links, devices and directories could point
 * outside their place; sparse files, multi-volume parts and unknown types keep a content
 * other than their stored bytes, which ota does not reconstruct.
 */
export function requirePlainFile(header: TarHeader, where: string): void {
  if (header.type === "file") return;
  const name = JSON.stringify(header.name.slice(0, 200));
  if (header.type === "sparse" || header.type === "unsupported") {
    fail(
      "TAR_TYPE_UNSUPPORTED",
      `${where} holds ${name}, ${describeEntry(header)}, which ota does not read; ` +
        "only plain files are allowed (rebuild the artifact with mender-artifact)",
    );
  }
  fail(
    "UNSAFE_NAME",
    `${where} holds ${name}, ${describeEntry(header)}; only plain files are allowed`,
  );
}

const corrupt = (message: string) => new TarFormatError(message);
const truncated = () => new TarFormatError("the tar stream is truncated", true);
const decoder = new TextDecoder();

function text(block: Uint8Array, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
}

/** An octal field (spaces and a NUL may end it) or GNU base-256; never beyond 2^53. */
function number(block: Uint8Array, offset: number, length: number, what: string): number {
  let value = 0;
  if (block[offset]! & 0x80) {
    if (block[offset] === 0xff) throw corrupt(`a tar header has a negative ${what}`);
    value = block[offset]! & 0x7f;
    for (let i = offset + 1; i < offset + length; i++) value = value * 256 + block[i]!;
  } else {
    let digits = 0;
    for (let i = offset; i < offset + length; i++) {
      const byte = block[i]!;
      if (byte === 0 || (byte === 0x20 && digits > 0)) break;
      if (byte === 0x20) continue;
      if (byte < 0x30 || byte > 0x37) throw corrupt(`a tar header's ${what} is not a number`);
      value = value * 8 + byte - 0x30;
      digits++;
    }
  }
  if (!Number.isSafeInteger(value)) throw corrupt(`a tar header's ${what} is too large`);
  return value;
}

/** Unsigned or (as some old tars wrote it) signed sum, the checksum field counted as spaces. */
function checksumMatches(block: Uint8Array): boolean {
  const stored = number(block, 148, 8, "checksum");
  let unsigned = 0, signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/** `<length> <key>=<value>\n` records. */
function paxRecords(body: Uint8Array): Map<string, string> {
  const records = new Map<string, string>();
  for (let at = 0; at < body.byteLength;) {
    const space = body.indexOf(0x20, at);
    const length = space > at ? Number(decoder.decode(body.subarray(at, space))) : NaN;
    if (!Number.isSafeInteger(length) || at + length > body.byteLength || length <= space - at) {
      throw corrupt("a PAX header has a malformed record");
    }
    const record = decoder.decode(body.subarray(space + 1, at + length));
    const equals = record.indexOf("=");
    if (!record.endsWith("\n") || equals <= 0) throw corrupt("a PAX header has a malformed record");
    records.set(record.slice(0, equals), record.slice(equals + 1, -1));
    at += length;
  }
  return records;
}

/** A PAX time (`1700000000.5`) in whole seconds; one that is no number is not used. */
function paxTime(value: string | undefined): number | undefined {
  return value !== undefined && /^-?[0-9]{1,15}(\.[0-9]*)?$/.test(value)
    ? Math.floor(Number(value))
    : undefined;
}

const sparseRecord = (key: string) => key.startsWith("GNU.sparse.");
/** Global records that would change what later entries are: no reader agrees on them. */
const globalForbidden = (key: string) =>
  ["path", "linkpath", "size"].includes(key) || sparseRecord(key);

/** Pending GNU long names and PAX records, for the entry that follows them. */
interface Extensions {
  name?: string;
  linkname?: string;
  pax?: Map<string, string>;
}

/** Bytes buffered from the input, handed out without copying where possible. */
class Source {
  private chunks: Uint8Array[] = [];
  private head = 0;
  private buffered = 0;
  private ended = false;

  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  async fill(count: number): Promise<boolean> {
    while (this.buffered < count && !this.ended) {
      const next = await this.reader.read();
      if (next.done) this.ended = true;
      else if (next.value.byteLength) {
        this.chunks.push(next.value);
        this.buffered += next.value.byteLength;
      }
    }
    return this.buffered >= count;
  }

  /** Up to `count` buffered bytes, from the first chunk only. */
  takeSome(count: number): Uint8Array {
    const first = this.chunks[0]!;
    const size = Math.min(count, first.byteLength - this.head);
    const out = first.subarray(this.head, this.head + size);
    this.head += size;
    this.buffered -= size;
    if (this.head === first.byteLength) {
      this.chunks.shift();
      this.head = 0;
    }
    return out;
  }

  /** Exactly `count` bytes; `fill(count)` must have succeeded. */
  take(count: number): Uint8Array {
    const first = this.takeSome(count);
    if (first.byteLength === count) return first;
    const out = new Uint8Array(count);
    out.set(first);
    for (let at = first.byteLength; at < count;) {
      const part = this.takeSome(count - at);
      out.set(part, at);
      at += part.byteLength;
    }
    return out;
  }

  async skip(count: number): Promise<boolean> {
    for (let left = count; left > 0;) {
      if (!await this.fill(1)) return false;
      left -= this.takeSome(left).byteLength;
    }
    return true;
  }

  /** True when nothing but zeros follows (a tar's end may be padded to a whole record). */
  async onlyZerosLeft(): Promise<boolean> {
    while (await this.fill(1)) {
      if (this.takeSome(this.buffered).some((byte) => byte !== 0)) return false;
    }
    return true;
  }

  cancel(reason?: unknown): Promise<void> {
    return this.reader.cancel(reason);
  }
}

const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

export function readTar(input: ByteStream): TarReader {
  const source = new Source(input.getReader());
  let remaining = 0;
  let pad = 0;
  let entries = 0;
  let ended = false;
  // The entries' bodies and the headers share one input: one read at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task);
    queue = run.catch(() => {});
    return run;
  };

  async function block(): Promise<Uint8Array> {
    if (!await source.fill(BLOCK)) throw truncated();
    return source.take(BLOCK);
  }

  async function metaBody(size: number): Promise<Uint8Array> {
    if (size > MAX_META_BYTES) throw corrupt(`a tar extension header of ${size} bytes`);
    if (!await source.fill(size + padding(size))) throw truncated();
    const body = source.take(size).slice();
    source.take(padding(size));
    return body;
  }

  async function end(extensions: Extensions): Promise<undefined> {
    if (Object.keys(extensions).length) throw corrupt("a tar extension header ends the archive");
    if ((await block()).some((byte) => byte !== 0)) {
      throw corrupt("a zero block inside the tar stream");
    }
    if (!await source.onlyZerosLeft()) throw corrupt("data after the end of the tar archive");
    ended = true;
    return undefined;
  }

  async function header(): Promise<TarEntry | undefined> {
    const extensions: Extensions = {};
    while (true) {
      const raw = await block();
      if (raw.every((byte) => byte === 0)) return await end(extensions);
      if (!checksumMatches(raw)) throw corrupt("a tar header's checksum is wrong");
      const size = number(raw, 124, 12, "size");
      const typeflag = String.fromCharCode(raw[156]!);
      if (typeflag === "x" || typeflag === "g") {
        const records = paxRecords(await metaBody(size));
        if (typeflag === "x") extensions.pax = new Map([...extensions.pax ?? [], ...records]);
        const forbidden = [...records.keys()].find(globalForbidden);
        if (typeflag === "g" && forbidden) {
          throw corrupt(`a PAX global header sets ${forbidden} for every entry`);
        }
        continue;
      }
      if (typeflag === "L" || typeflag === "K") {
        const value = text(await metaBody(size), 0, size);
        if (typeflag === "L") extensions.name = value;
        else extensions.linkname = value;
        continue;
      }
      return entry(raw, size, typeflag, extensions);
    }
  }

  function entry(raw: Uint8Array, stored: number, typeflag: string, ext: Extensions): TarEntry {
    const posix = decoder.decode(raw.subarray(257, 263)) === "ustar\0";
    const prefix = posix ? text(raw, 345, 155) : "";
    const name = ext.pax?.get("path") ?? ext.name ??
      (prefix ? `${prefix}/${text(raw, 0, 100)}` : text(raw, 0, 100));
    let size = stored;
    const paxSize = ext.pax?.get("size");
    if (paxSize !== undefined) {
      size = /^[0-9]{1,16}$/.test(paxSize) ? Number(paxSize) : NaN;
      if (!Number.isSafeInteger(size)) throw corrupt("a PAX header has a malformed size");
    }
    let type = types.get(typeflag) ?? "unsupported";
    if (type === "file" && [...ext.pax?.keys() ?? []].some(sparseRecord)) type = "sparse";
    if (type === "file" && name.endsWith("/")) type = "directory";
    const bodyless = !["file", "sparse", "unsupported"].includes(type);
    if (bodyless && size !== 0) {
      // Readers disagree on whether such a body is there; none of them may be misled.
      throw corrupt(`the tar entry ${JSON.stringify(name.slice(0, 200))} has a body of ${size}`);
    }
    remaining = size;
    pad = padding(size);
    entries++;
    const header: TarHeader = {
      name,
      size,
      type,
      typeflag,
      linkname: ext.pax?.get("linkpath") ?? ext.linkname ?? text(raw, 157, 100),
      mtime: paxTime(ext.pax?.get("mtime")) ?? number(raw, 136, 12, "mtime"),
    };
    return { header, body: bodyOf(size) };
  }

  function bodyOf(size: number): ByteStream {
    const mine = entries;
    return new ReadableStream<Uint8Array>({
      start(controller) {
        if (size === 0) controller.close();
      },
      pull: (controller) =>
        serial(async () => {
          if (mine !== entries) throw new TarFormatError("a tar entry was read after the next one");
          if (remaining === 0) return controller.close();
          if (!await source.fill(1)) throw truncated();
          const chunk = source.takeSome(remaining);
          remaining -= chunk.byteLength;
          controller.enqueue(chunk);
          if (remaining === 0) controller.close();
        }),
    }, { highWaterMark: 0 });
  }

  return {
    next: () =>
      serial(async () => {
        if (ended) return undefined;
        if (!await source.skip(remaining + pad)) throw truncated();
        remaining = pad = 0;
        return await header();
      }),
    cancel: (reason?: unknown) => source.cancel(reason).catch(() => {}),
  };
}
