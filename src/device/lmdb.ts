/**
 * A read-only reader of LMDB files (the format of liblmdb 0.9, MDB_DATA_VERSION 1), enough
 * for Mender's `mender-store`: the two meta pages, the B+tree of the main database with its
 * branch, leaf and overflow pages, in the 32- and 64-bit layouts (little-endian). The file is
 * hostile input: every page number is checked against the file and the meta page, each page
 * is visited once (a cycle is an error, not a loop), depth and sizes are bounded.
 *
 * A live writer never changes the pages of the newest committed snapshot while its own
 * transaction runs, so the newest meta page is taken; the whole file is read in one go and
 * read again when its metas moved under the parse.
 */
import { promises as fs } from "node:fs";
import { fail } from "../errors.ts";

export interface LmdbEntry {
  key: Uint8Array;
  value: Uint8Array;
}

export interface LmdbLayout {
  /** Size of a page number, size_t and txnid: 4 on 32-bit builds, 8 on 64-bit ones. */
  wordSize: 4 | 8;
  pageSize: number;
  mapSize: number;
  /** The flags word of the meta page (MDB_db flags of the free database). */
  metaFlags: number;
}

export interface LmdbSnapshot extends LmdbLayout {
  /** The transaction that committed this snapshot. */
  txnid: number;
  /** The main database, in key order. */
  entries: LmdbEntry[];
}

export const LMDB_MAGIC = 0xbeefc0de;
export const LMDB_VERSION = 1;
export const P_BRANCH = 0x01;
export const P_LEAF = 0x02;
export const P_OVERFLOW = 0x04;
export const P_META = 0x08;
export const F_BIGDATA = 0x01;
const F_SUBDATA = 0x02;
const F_DUPDATA = 0x04;
const MDB_DUPSORT = 0x04;
/** liblmdb's cursor stack is 32 deep; a tree deeper than that cannot be read by it either. */
const MAX_DEPTH = 32;
/** Mender's store holds a handful of small keys; anything near this is not Mender's. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;
const MAX_ENTRIES = 100_000;
export const NODE_HEADER = 8;

export function pageHeaderSize(wordSize: 4 | 8): number {
  return wordSize + 8;
}

function corrupt(what: string, detail: string): never {
  fail(
    "LMDB_CORRUPT",
    `${what} is not a valid LMDB database: ${detail}; if Mender no longer runs here, move it aside`,
  );
}

class Reader {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u16(at: number): number {
    return this.view.getUint16(at, true);
  }
  u32(at: number): number {
    return this.view.getUint32(at, true);
  }
  /** A size_t or page number; undefined when it does not fit a JS number exactly. */
  word(at: number, size: 4 | 8): number | undefined {
    if (size === 4) return this.u32(at);
    const value = this.view.getBigUint64(at, true);
    return value > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(value);
  }
}

interface Meta {
  txnid: number;
  mapSize: number;
  flags: number;
  mainFlags: number;
  depth: number;
  entries: number;
  root: number | undefined;
  lastPage: number;
}

/** Offsets of the MDB_meta fields after the page header, for one word size. */
function metaOffsets(w: 4 | 8) {
  const start = pageHeaderSize(w);
  const db = 8 + 5 * w; // md_pad, md_flags, md_depth, then five words
  const free = start + 8 + 2 * w;
  return { start, mapSize: start + 8 + w, free, main: free + db, last: free + 2 * db };
}

function readMeta(r: Reader, base: number, w: 4 | 8, what: string): Meta | undefined {
  const o = metaOffsets(w);
  if (base + o.last + 2 * w > r.bytes.length) return undefined;
  if (r.u32(base + o.start) !== LMDB_MAGIC) return undefined;
  if (r.u32(base + o.start + 4) !== LMDB_VERSION) {
    fail("LMDB_UNSUPPORTED", `${what} has LMDB data version ${r.u32(base + o.start + 4)}, not 1`);
  }
  const num = (at: number) => {
    const value = r.word(base + at, w);
    if (value === undefined) corrupt(what, "a meta page holds an out-of-range number");
    return value;
  };
  const rootRaw = w === 4
    ? r.u32(base + o.main + 8 + 4 * w)
    : r.view.getBigUint64(base + o.main + 8 + 4 * w, true);
  const invalid = w === 4 ? rootRaw === 0xffffffff : rootRaw === 0xffffffffffffffffn;
  return {
    txnid: num(o.last + w),
    mapSize: num(o.mapSize),
    flags: r.u16(base + o.free + 4),
    mainFlags: r.u16(base + o.main + 4),
    depth: r.u16(base + o.main + 6),
    entries: num(o.main + 8 + 3 * w),
    root: invalid ? undefined : num(o.main + 8 + 4 * w),
    lastPage: num(o.last),
  };
}

/** Word size and page size from meta page 0 (the page size lives in the free DB's md_pad). */
function detectLayout(r: Reader, what: string): { w: 4 | 8; pageSize: number } {
  if (r.bytes.length < 2 * 256) corrupt(what, `${r.bytes.length} bytes is too short`);
  for (const w of [8, 4] as const) {
    const o = metaOffsets(w);
    if (r.u32(o.start) !== LMDB_MAGIC) continue;
    const pageSize = r.u32(o.free);
    if (pageSize < 256 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
      corrupt(what, `page size ${pageSize} is not a power of two between 256 and 65536`);
    }
    return { w, pageSize };
  }
  if (r.view.getUint32(16, false) === LMDB_MAGIC || r.view.getUint32(12, false) === LMDB_MAGIC) {
    fail("LMDB_UNSUPPORTED", `${what} was written on a big-endian machine`);
  }
  corrupt(what, "no LMDB meta page at the start of the file");
}

/** Parses an LMDB file's bytes and returns the main database of its newest snapshot. */
export function parseLmdb(bytes: Uint8Array, what: string): LmdbSnapshot {
  if (bytes.length > MAX_FILE_BYTES) {
    fail("LIMIT_EXCEEDED", `${what} is ${bytes.length} bytes, more than ${MAX_FILE_BYTES}`);
  }
  const r = new Reader(bytes);
  const { w, pageSize } = detectLayout(r, what);
  const metas = [readMeta(r, 0, w, what), readMeta(r, pageSize, w, what)]
    .filter((m): m is Meta => m !== undefined);
  const meta = metas.sort((a, b) => b.txnid - a.txnid)[0];
  if (!meta) corrupt(what, "no valid meta page");
  if (meta.mainFlags & MDB_DUPSORT) {
    fail("LMDB_UNSUPPORTED", `${what}: the main database has duplicate keys (MDB_DUPSORT)`);
  }
  const filePages = Math.floor(bytes.length / pageSize);
  if (meta.lastPage < 1 || meta.lastPage >= filePages) {
    corrupt(what, `the meta page names ${meta.lastPage + 1} pages, the file has ${filePages}`);
  }
  const walker = new TreeWalker(r, w, pageSize, meta.lastPage, what);
  if (meta.root !== undefined) {
    if (meta.depth < 1 || meta.depth > MAX_DEPTH) corrupt(what, `tree depth ${meta.depth}`);
    walker.visit(meta.root, 1, meta.depth);
  }
  if (walker.entries.length !== meta.entries) {
    corrupt(
      what,
      `the tree holds ${walker.entries.length} keys, the meta page says ${meta.entries}`,
    );
  }
  return {
    txnid: meta.txnid,
    wordSize: w,
    pageSize,
    mapSize: meta.mapSize,
    metaFlags: meta.flags,
    entries: walker.entries,
  };
}

class TreeWalker {
  readonly entries: LmdbEntry[] = [];
  private readonly seen = new Set<number>();
  private readonly header: number;

  constructor(
    private readonly r: Reader,
    private readonly w: 4 | 8,
    private readonly pageSize: number,
    private readonly lastPage: number,
    private readonly what: string,
  ) {
    this.header = pageHeaderSize(w);
  }

  /** Marks pages [pgno, pgno + count) as used; each page belongs to one place in the tree. */
  private claim(pgno: number, count: number): number {
    if (pgno < 2 || count < 1 || pgno + count - 1 > this.lastPage) {
      corrupt(this.what, `page ${pgno} (+${count}) is outside the database`);
    }
    for (let p = pgno; p < pgno + count; p++) {
      if (this.seen.has(p)) corrupt(this.what, `page ${p} is reached twice (a cycle)`);
      this.seen.add(p);
    }
    const base = pgno * this.pageSize;
    if (this.r.word(base, this.w) !== pgno) {
      corrupt(this.what, `page ${pgno} carries another page number`);
    }
    return base;
  }

  visit(pgno: number, level: number, depth: number): void {
    if (level > depth) corrupt(this.what, `the tree is deeper than its meta page says`);
    const base = this.claim(pgno, 1);
    const flags = this.r.u16(base + this.w + 2);
    const isLeaf = (flags & (P_BRANCH | P_LEAF | P_OVERFLOW | P_META)) === P_LEAF;
    const isBranch = (flags & (P_BRANCH | P_LEAF | P_OVERFLOW | P_META)) === P_BRANCH;
    if (!isLeaf && !isBranch) corrupt(this.what, `page ${pgno} has flags 0x${flags.toString(16)}`);
    if (isLeaf !== (level === depth)) corrupt(this.what, `page ${pgno} is at the wrong depth`);
    const lower = this.r.u16(base + this.w + 4);
    const upper = this.r.u16(base + this.w + 6);
    if (lower < this.header || (lower - this.header) % 2 || upper < lower) {
      corrupt(this.what, `page ${pgno} has bounds ${lower}..${upper}`);
    }
    if (upper > this.pageSize) corrupt(this.what, `page ${pgno} ends past its size`);
    const count = (lower - this.header) / 2;
    if (count === 0) corrupt(this.what, `page ${pgno} is empty`);
    for (let i = 0; i < count; i++) {
      const at = this.r.u16(base + this.header + 2 * i);
      if (at < upper || at + NODE_HEADER > this.pageSize) {
        corrupt(this.what, `node ${i} of page ${pgno} is outside the page`);
      }
      const node = base + at;
      const ksize = this.r.u16(node + 6);
      if (at + NODE_HEADER + ksize > this.pageSize) {
        corrupt(this.what, `the key of node ${i} on page ${pgno} runs past the page`);
      }
      const key = this.r.bytes.subarray(node + NODE_HEADER, node + NODE_HEADER + ksize);
      if (isBranch) {
        let child = this.r.u16(node) + this.r.u16(node + 2) * 0x10000;
        if (this.w === 8) child += this.r.u16(node + 4) * 0x100000000;
        this.visit(child, level + 1, depth);
      } else {
        this.leaf(node, at, key, pgno);
      }
    }
  }

  private leaf(node: number, at: number, key: Uint8Array, pgno: number): void {
    const size = this.r.u16(node) + this.r.u16(node + 2) * 0x10000;
    const flags = this.r.u16(node + 4);
    if (flags & (F_DUPDATA | F_SUBDATA)) {
      fail("LMDB_UNSUPPORTED", `${this.what} holds a sub-database or duplicate keys`);
    }
    const dataAt = node + NODE_HEADER + key.length;
    let value: Uint8Array;
    if (flags & F_BIGDATA) {
      if (at + NODE_HEADER + key.length + this.w > this.pageSize) {
        corrupt(this.what, `an overflow reference on page ${pgno} runs past the page`);
      }
      const first = this.r.word(dataAt, this.w);
      if (first === undefined) corrupt(this.what, `an overflow page number is out of range`);
      const needed = Math.floor((this.header - 1 + size) / this.pageSize) + 1;
      const base = first * this.pageSize;
      if (first + needed - 1 > this.lastPage) {
        corrupt(this.what, `a ${size}-byte value on page ${first} runs past the database`);
      }
      const pages = this.r.u32(base + this.w + 4);
      if ((this.r.u16(base + this.w + 2) & P_OVERFLOW) === 0 || pages < needed) {
        corrupt(this.what, `page ${first} is not an overflow page of ${needed} pages`);
      }
      this.claim(first, pages);
      value = this.r.bytes.subarray(base + this.header, base + this.header + size);
    } else {
      if (at + NODE_HEADER + key.length + size > this.pageSize) {
        corrupt(this.what, `the value of a node on page ${pgno} runs past the page`);
      }
      value = this.r.bytes.subarray(dataAt, dataAt + size);
    }
    const previous = this.entries.at(-1);
    if (previous && compareKeys(previous.key, key) >= 0) {
      corrupt(this.what, `keys out of order on page ${pgno}`);
    }
    if (this.entries.length >= MAX_ENTRIES) corrupt(this.what, `more than ${MAX_ENTRIES} keys`);
    this.entries.push({ key: key.slice(), value: value.slice() });
  }
}

/** LMDB's default key order: bytes compared unsigned, a prefix first. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

const ATTEMPTS = 3;

/**
 * Reads an LMDB file; undefined when it does not exist. A file being committed to while it
 * is read may look torn: then it is read again, a few times, before the error stands.
 */
export async function readLmdbFile(path: string): Promise<LmdbSnapshot | undefined> {
  for (let attempt = 1;; attempt++) {
    const stat = await fs.stat(path).catch(() => undefined);
    if (!stat) return undefined;
    if (stat.size > MAX_FILE_BYTES) {
      fail("LIMIT_EXCEEDED", `${path} is ${stat.size} bytes, more than ${MAX_FILE_BYTES}`);
    }
    const bytes = new Uint8Array(await fs.readFile(path));
    try {
      return parseLmdb(bytes, path);
    } catch (error) {
      if (attempt >= ATTEMPTS) throw error;
      const again = new Uint8Array(await fs.readFile(path).catch(() => new Uint8Array(0)));
      if (sameMetas(bytes, again)) throw error; // nothing moved: the file is what it is
    }
  }
}

function sameMetas(a: Uint8Array, b: Uint8Array): boolean {
  const n = Math.min(2 * 65536, a.length);
  if (a.length !== b.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}
