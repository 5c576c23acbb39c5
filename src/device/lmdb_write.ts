/**
 * Writes a fresh single-file LMDB database (liblmdb 0.9's format) holding one main database:
 * the keys sorted, leaves packed, overflow pages for values liblmdb would put there, branch
 * levels above, an empty free list, and two meta pages. The file replaces the old one by
 * rename, so a power cut leaves the old database or the new one, never a mix. liblmdb opens
 * it as any database it wrote itself and goes on from the transaction number given.
 */
import { fail } from "../errors.ts";
import {
  compareKeys,
  F_BIGDATA,
  LMDB_MAGIC,
  LMDB_VERSION,
  type LmdbEntry,
  type LmdbLayout,
  NODE_HEADER,
  P_BRANCH,
  P_LEAF,
  P_META,
  P_OVERFLOW,
  pageHeaderSize,
} from "./lmdb.ts";

/** liblmdb's default MDB_MAXKEYSIZE. */
const MAX_KEY = 511;
/** What a fresh environment opened with MDB_NOSUBDIR records: MDB_NOSUBDIR | MDB_INTEGERKEY. */
export const DEFAULT_META_FLAGS = 0x4008;
const DEFAULT_MAP_SIZE = 1024 * 1024;

export interface LmdbWriteOptions extends Partial<LmdbLayout> {
  /** The transaction number the new snapshot carries (the old file's plus one). */
  txnid: number;
}

interface Page {
  bytes: Uint8Array;
  view: DataView;
}

const even = (n: number) => n + (n & 1);

export function buildLmdb(entries: LmdbEntry[], options: LmdbWriteOptions): Uint8Array {
  const w = options.wordSize ?? 8;
  const psize = options.pageSize ?? 4096;
  const header = pageHeaderSize(w);
  const nodeMax = (Math.floor((psize - header) / 2) & ~1) - 2;
  const sorted = [...entries].sort((a, b) => compareKeys(a.key, b.key));
  sorted.forEach((entry, i) => {
    if (entry.key.length === 0 || entry.key.length > MAX_KEY) {
      fail("LMDB_UNSUPPORTED", `an LMDB key must be 1 to ${MAX_KEY} bytes`);
    }
    if (i > 0 && compareKeys(sorted[i - 1]!.key, entry.key) === 0) {
      fail("INTERNAL", "the same LMDB key twice");
    }
  });
  const pages: Page[] = [newPage(psize), newPage(psize)];
  const alloc = (count = 1): number => {
    const pgno = pages.length;
    for (let i = 0; i < count; i++) pages.push(newPage(psize));
    setWord(pages[pgno]!, 0, pgno, w);
    return pgno;
  };
  let overflowPages = 0;
  // Leaves: nodes in key order, a value that makes the node larger than nodeMax on overflow pages.
  const leafNodes = sorted.map((entry) => {
    const big = NODE_HEADER + entry.key.length + entry.value.length > nodeMax;
    const size = even(NODE_HEADER + entry.key.length + (big ? w : entry.value.length));
    return { entry, big, size };
  });
  const leafPages: { pgno: number; first: Uint8Array }[] = [];
  for (const group of pack(leafNodes, psize - header)) {
    const pgno = alloc();
    const page = pages[pgno]!;
    leafPages.push({ pgno, first: group[0]!.entry.key });
    let upper = psize;
    group.forEach((node, i) => {
      upper -= node.size;
      page.view.setUint16(header + 2 * i, upper, true);
      const { key, value } = node.entry;
      page.view.setUint16(upper, value.length & 0xffff, true);
      page.view.setUint16(upper + 2, value.length >>> 16, true);
      page.view.setUint16(upper + 4, node.big ? F_BIGDATA : 0, true);
      page.view.setUint16(upper + 6, key.length, true);
      page.bytes.set(key, upper + NODE_HEADER);
      if (node.big) {
        const count = Math.floor((header - 1 + value.length) / psize) + 1;
        const first = alloc(count);
        overflowPages += count;
        const head = pages[first]!;
        head.view.setUint16(w + 2, P_OVERFLOW, true);
        head.view.setUint32(w + 4, count, true);
        for (let at = 0; at < value.length;) {
          const pageIndex = Math.floor((header + at) / psize);
          const offset = (header + at) % psize;
          const take = Math.min(psize - offset, value.length - at);
          pages[first + pageIndex]!.bytes.set(value.subarray(at, at + take), offset);
          at += take;
        }
        setWord(page, upper + NODE_HEADER + key.length, first, w);
      } else {
        page.bytes.set(value, upper + NODE_HEADER + key.length);
      }
    });
    setBounds(page, w, P_LEAF, header + 2 * group.length, upper);
  }
  // Branch levels until one page is the root; a branch's first key is implicit (empty).
  let level = leafPages;
  let depth = leafPages.length ? 1 : 0;
  let branchPages = 0;
  while (level.length > 1) {
    const nodes = level.map((child, i) => ({
      child,
      key: i === 0 ? new Uint8Array(0) : child.first,
      size: even(NODE_HEADER + (i === 0 ? 0 : child.first.length)),
    }));
    const next: typeof level = [];
    for (const group of pack(nodes, psize - header, 2)) {
      const pgno = alloc();
      branchPages++;
      const page = pages[pgno]!;
      next.push({ pgno, first: group[0]!.child.first });
      let upper = psize;
      group.forEach((node, i) => {
        upper -= node.size;
        page.view.setUint16(header + 2 * i, upper, true);
        const child = node.child.pgno;
        page.view.setUint16(upper, child & 0xffff, true);
        page.view.setUint16(upper + 2, Math.floor(child / 0x10000) & 0xffff, true);
        page.view.setUint16(upper + 4, w === 8 ? Math.floor(child / 0x100000000) : 0, true);
        // the first key of each page is implicit; a page's own first node keeps no key
        const key = i === 0 ? new Uint8Array(0) : node.key;
        page.view.setUint16(upper + 6, key.length, true);
        page.bytes.set(key, upper + NODE_HEADER);
      });
      setBounds(page, w, P_BRANCH, header + 2 * group.length, upper);
    }
    level = next;
    depth++;
  }
  const main = {
    depth,
    branchPages,
    leafPages: leafPages.length,
    overflowPages,
    entries: sorted.length,
    root: level[0]?.pgno,
  };
  const lastPage = pages.length - 1;
  const mapSize = Math.max(options.mapSize ?? DEFAULT_MAP_SIZE, pages.length * psize);
  const flags = options.metaFlags ?? DEFAULT_META_FLAGS;
  const txnid = options.txnid;
  if (!Number.isSafeInteger(txnid) || txnid < 1 || (w === 4 && txnid > 0xffffffff)) {
    fail("INTERNAL", `transaction number ${txnid} does not fit the layout`);
  }
  // The snapshot before this one shares its tree: liblmdb only ever takes the newest.
  for (const id of [txnid, txnid - 1]) {
    writeMeta(pages[id & 1]!, w, id & 1, { psize, flags, mapSize, main, lastPage, txnid: id });
  }
  const out = new Uint8Array(pages.length * psize);
  pages.forEach((page, i) => out.set(page.bytes, i * psize));
  return out;
}

function newPage(psize: number): Page {
  const bytes = new Uint8Array(psize);
  return { bytes, view: new DataView(bytes.buffer) };
}

function setWord(page: Page, at: number, value: number, w: 4 | 8): void {
  if (w === 4) page.view.setUint32(at, value, true);
  else page.view.setBigUint64(at, BigInt(value), true);
}

function setInvalid(page: Page, at: number, w: 4 | 8): void {
  if (w === 4) page.view.setUint32(at, 0xffffffff, true);
  else page.view.setBigUint64(at, 0xffffffffffffffffn, true);
}

function setBounds(page: Page, w: 4 | 8, flags: number, lower: number, upper: number): void {
  page.view.setUint16(w + 2, flags, true);
  page.view.setUint16(w + 4, lower, true);
  page.view.setUint16(w + 6, upper, true);
}

/** Greedy packing into pages of `room` bytes (a node costs its size and a 2-byte pointer). */
function pack<T extends { size: number }>(nodes: T[], room: number, minimum = 1): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let used = 0;
  for (const node of nodes) {
    if (node.size + 2 > room) fail("INTERNAL", "an LMDB node larger than a page");
    if (used + node.size + 2 > room && current.length) {
      groups.push(current);
      current = [];
      used = 0;
    }
    current.push(node);
    used += node.size + 2;
  }
  if (current.length) groups.push(current);
  // A lone node on the last page moves in with its neighbours' last one (branches need two).
  const last = groups.at(-1);
  const before = groups.at(-2);
  if (last && before && last.length < minimum && before.length > minimum) {
    last.unshift(before.pop()!);
  }
  return groups;
}

interface MetaFields {
  psize: number;
  flags: number;
  mapSize: number;
  lastPage: number;
  txnid: number;
  main: {
    depth: number;
    branchPages: number;
    leafPages: number;
    overflowPages: number;
    entries: number;
    root: number | undefined;
  };
}

function writeMeta(page: Page, w: 4 | 8, pgno: number, m: MetaFields): void {
  page.bytes.fill(0);
  setWord(page, 0, pgno, w);
  page.view.setUint16(w + 2, P_META, true);
  let at = pageHeaderSize(w);
  page.view.setUint32(at, LMDB_MAGIC, true);
  page.view.setUint32(at + 4, LMDB_VERSION, true);
  at += 8 + w; // mm_address stays 0
  setWord(page, at, m.mapSize, w);
  at += w;
  // the free database: empty; its md_pad holds the page size, its flags the meta flags
  page.view.setUint32(at, m.psize, true);
  page.view.setUint16(at + 4, m.flags, true);
  setInvalid(page, at + 8 + 4 * w, w);
  at += 8 + 5 * w;
  page.view.setUint16(at + 6, m.main.depth, true);
  setWord(page, at + 8, m.main.branchPages, w);
  setWord(page, at + 8 + w, m.main.leafPages, w);
  setWord(page, at + 8 + 2 * w, m.main.overflowPages, w);
  setWord(page, at + 8 + 3 * w, m.main.entries, w);
  if (m.main.root === undefined) setInvalid(page, at + 8 + 4 * w, w);
  else setWord(page, at + 8 + 4 * w, m.main.root, w);
  at += 8 + 5 * w;
  setWord(page, at, m.lastPage, w);
  setWord(page, at + w, m.txnid, w);
}
