/**
 * Damaged and hostile LMDB files: each starts from a database liblmdb wrote (python3-lmdb),
 * edited byte by byte: truncated, a branch pointing back at itself, pages past the end of
 * the file, lying counts, random flips. The reader must answer each with its data or a
 * coded error, never a crash, a hang or a read past the file.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { lmdbWrite, pythonLmdbAvailable } from "../helpers/lmdb_python.ts";
import { pseudoRandomBytes } from "../helpers/mod.ts";
import { parseLmdb } from "../../src/device/lmdb.ts";
import { isOtaError } from "../../src/errors.ts";

const ignore = !pythonLmdbAvailable();
const CODES = ["LMDB_CORRUPT", "LMDB_UNSUPPORTED", "LIMIT_EXCEEDED"] as const;

/** A 64-bit database with branch pages and overflow values, written by liblmdb. */
async function base(): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "ota-lmdb-hostile-" });
  try {
    const txn: Record<string, string> = {};
    for (let i = 0; i < 400; i++) txn[`key-${i}-${"k".repeat(60)}`] = "v".repeat((i * 89) % 5000);
    await lmdbWrite(`${dir}/db`, [txn, { "artifact-name": "release-1" }]);
    return await Deno.readFile(`${dir}/db`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const PAGE = 4096;
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
/** Offset of the newest meta page (64-bit layout: txnid at 144). */
function newestMeta(b: Uint8Array): number {
  const v = view(b);
  return v.getBigUint64(144, true) >= v.getBigUint64(PAGE + 144, true) ? 0 : PAGE;
}
const ROOT = 128; // main database's md_root within the meta page
const DEPTH = 94;
const ENTRIES = 120;
const LAST_PAGE = 136;

function rootPage(b: Uint8Array): number {
  return Number(view(b).getBigUint64(newestMeta(b) + ROOT, true));
}

/** Offset of node `i` on page `pgno`. */
function node(b: Uint8Array, pgno: number, i: number): number {
  return pgno * PAGE + view(b).getUint16(pgno * PAGE + 16 + 2 * i, true);
}

/** The leaf pages reachable from `pgno` (old snapshots leave unreachable ones behind). */
function leaves(b: Uint8Array, pgno: number): number[] {
  const v = view(b);
  if (v.getUint16(pgno * PAGE + 10, true) & 0x02) return [pgno];
  const count = (v.getUint16(pgno * PAGE + 12, true) - 16) / 2;
  return Array.from({ length: count }, (_, i) => {
    const n = node(b, pgno, i);
    return leaves(b, v.getUint16(n, true) + v.getUint16(n + 2, true) * 65536);
  }).flat();
}

function expectRefused(bytes: Uint8Array, what: string, code: string = "LMDB_CORRUPT") {
  try {
    parseLmdb(bytes, what);
  } catch (error) {
    assert(isOtaError(error), `${what}: ${error}`);
    assertEquals(error.code, code, `${what}: ${error.message}`);
    return error.message;
  }
  throw new Error(`${what} was read as valid`);
}

Deno.test({
  name: "lmdb hostile: edits liblmdb would never write are refused with a code",
  ignore,
  async fn() {
    const good = await base();
    const entries = parseLmdb(good, "base").entries.length;
    assertEquals(entries, 401);
    const root = rootPage(good);
    const meta = newestMeta(good);
    assert(view(good).getUint16(root * PAGE + 10, true) & 1, "the root is a branch page");

    const edit = (fn: (b: Uint8Array, v: DataView) => void) => {
      const b = good.slice();
      fn(b, view(b));
      return b;
    };
    // a branch that points back at itself: a cycle, not a loop
    const cycle = edit((b, v) => {
      const n = node(b, root, 1);
      v.setUint16(n, root & 0xffff, true);
      v.setUint16(n + 2, root >> 16, true);
    });
    assert(expectRefused(cycle, "cycle").includes("twice"));
    // a child past the end of the file
    const past = edit((b, v) => v.setUint16(node(b, root, 1), 60000, true));
    assert(expectRefused(past, "past").includes("outside"));
    // the meta page claims more pages than the file has
    const claims = edit((_, v) => v.setBigUint64(meta + LAST_PAGE, 1n << 40n, true));
    expectRefused(claims, "last page");
    // depth and entry counts that lie
    expectRefused(edit((_, v) => v.setUint16(meta + DEPTH, 60000, true)), "depth");
    expectRefused(edit((_, v) => v.setUint16(meta + DEPTH, 1, true)), "shallow");
    expectRefused(edit((_, v) => v.setBigUint64(meta + ENTRIES, 3n, true)), "entries");
    // an overflow value that says it is larger than the database
    const big = edit((b, v) => {
      for (const leaf of leaves(b, root)) {
        const keys = (v.getUint16(leaf * PAGE + 12, true) - 16) / 2;
        for (let i = 0; i < keys; i++) {
          const n = node(b, leaf, i);
          if (v.getUint16(n + 4, true) & 1) {
            v.setUint16(n + 2, 0x7fff, true); // data size near 2 GiB
            return;
          }
        }
      }
      throw new Error("no overflow node");
    });
    expectRefused(big, "overflow size");
    // a page that carries another page's number
    expectRefused(edit((_, v) => v.setBigUint64(root * PAGE, 2n, true)), "page number");
    // written on a big-endian machine
    const be = edit((_, v) => {
      for (const at of [16, PAGE + 16]) v.setUint32(at, 0xbeefc0de, false);
    });
    expectRefused(be, "big-endian", "LMDB_UNSUPPORTED");
    // a sub-database record
    const sub = edit((b, v) => {
      v.setUint16(node(b, leaves(b, root)[0]!, 0) + 4, 0x02, true);
    });
    expectRefused(sub, "sub-database", "LMDB_UNSUPPORTED");
    // truncated anywhere
    for (const size of [0, 100, PAGE, 2 * PAGE, good.length - PAGE, good.length - 1]) {
      expectRefused(good.slice(0, size), `truncated to ${size}`);
    }
  },
});

Deno.test({
  name: "lmdb hostile: random byte flips give the data or a coded error, quickly",
  ignore,
  async fn() {
    const good = await base();
    const noise = pseudoRandomBytes(8 * 600, 7);
    const started = performance.now();
    const outcomes: Record<string, number> = {};
    for (let trial = 0; trial < 600; trial++) {
      const b = good.slice();
      for (let k = 0; k < 1 + (trial % 4); k++) {
        const at = 8 * trial + 2 * k;
        const offset = ((noise[at]! << 16) | (noise[at + 1]! << 8) | noise[trial % 97]!) %
          b.length;
        b[offset] = noise[(at + 5) % noise.length]!;
      }
      try {
        parseLmdb(b, "flipped");
        outcomes.read = (outcomes.read ?? 0) + 1;
      } catch (error) {
        assert(isOtaError(error), `trial ${trial}: ${error}`);
        assert((CODES as readonly string[]).includes(error.code), `trial ${trial}: ${error.code}`);
        outcomes[error.code] = (outcomes[error.code] ?? 0) + 1;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    assert(seconds < 30, `600 damaged files took ${seconds.toFixed(1)} s`);
    assert((outcomes.LMDB_CORRUPT ?? 0) > 0, JSON.stringify(outcomes));
  },
});
