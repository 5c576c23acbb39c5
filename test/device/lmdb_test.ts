/**
 * ota's LMDB writer and reader against each other in every layout the writer makes (32-
 * and 64-bit, several page sizes, empty, one key, deep trees, overflow values). liblmdb's
 * own view of these files is in test/interop/lmdb_interop_test.ts.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { parseLmdb } from "../../src/device/lmdb.ts";
import { buildLmdb } from "../../src/device/lmdb_write.ts";
import { isOtaError } from "../../src/errors.ts";

const enc = new TextEncoder();
const text = new TextDecoder();

function entriesOf(count: number, valueSize: (i: number) => number) {
  return Array.from({ length: count }, (_, i) => ({
    key: enc.encode(`key-${String(i).padStart(6, "0")}`),
    value: enc.encode(String.fromCharCode(97 + (i % 26)).repeat(valueSize(i))),
  }));
}

for (const wordSize of [4, 8] as const) {
  for (const pageSize of [4096, 16384]) {
    Deno.test(`lmdb: ${wordSize * 8}-bit, ${pageSize}-byte pages: written and read back`, () => {
      for (const [count, size] of [[0, 0], [1, 10], [50, 3000], [3000, 40]] as const) {
        const entries = entriesOf(count, (i) => (i * size) % (size * 7 + 1));
        const bytes = buildLmdb(entries, { txnid: 9, wordSize, pageSize });
        assertEquals(bytes.length % pageSize, 0);
        const back = parseLmdb(bytes, "test");
        assertEquals(back.wordSize, wordSize);
        assertEquals(back.pageSize, pageSize);
        assertEquals(back.txnid, 9);
        assertEquals(back.entries, entries, `${count} entries`);
      }
    });
  }
}

Deno.test("lmdb: keys come back in liblmdb's order whatever order they went in", () => {
  const keys = ["b", "a", "ab", "B", "\u00e9", "a\u0000"];
  const bytes = buildLmdb(keys.map((k) => ({ key: enc.encode(k), value: enc.encode(k) })), {
    txnid: 1,
  });
  assertEquals(
    parseLmdb(bytes, "order").entries.map((e) => text.decode(e.key)),
    ["B", "a", "a\u0000", "ab", "b", "\u00e9"],
  );
});

Deno.test("lmdb: a value of 1 MiB spans overflow pages; the newest of two metas is taken", () => {
  const big = new Uint8Array(1 << 20).map((_, i) => i % 251);
  const bytes = buildLmdb([{ key: enc.encode("big"), value: big }], { txnid: 5 });
  assertEquals(parseLmdb(bytes, "big").entries[0]?.value, big);
  // meta page 1 holds txnid 5; make page 0 claim 6 with an empty tree: it wins
  const view = new DataView(bytes.buffer);
  view.setBigUint64(144, 6n, true);
  view.setBigUint64(128, 0xffffffffffffffffn, true);
  view.setBigUint64(120, 0n, true);
  const newest = parseLmdb(bytes, "metas");
  assertEquals([newest.txnid, newest.entries.length], [6, 0]);
});

Deno.test("lmdb: the writer refuses keys liblmdb cannot hold", () => {
  for (const key of [new Uint8Array(0), new Uint8Array(512)]) {
    let error: unknown;
    try {
      buildLmdb([{ key, value: new Uint8Array(1) }], { txnid: 1 });
    } catch (e) {
      error = e;
    }
    assert(isOtaError(error, "LMDB_UNSUPPORTED"), `a ${key.length}-byte key`);
  }
});
