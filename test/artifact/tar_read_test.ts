/**
 * The artifact's tar reader on its own (no binary, no real tool): every type flag keeps its
 * meaning, sparse and unknown entries are marked, never passed off as files; PAX and GNU
 * extensions name and size entries; every framing fault is a TarFormatError that says
 * whether the stream was cut short; bodies left unread are skipped.
 */
import { readTar, type TarEntry, TarFormatError } from "../../src/artifact/tar_read.ts";
import { concat, readAll, streamOf } from "../../src/streams.ts";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { bytes, EOA, gnuLongName, paxEntry, tarEntry, tarHeader, tarOf } from "./craft.ts";

async function entries(archive: Uint8Array, chunk = 100): Promise<(TarEntry & { data: string })[]> {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < archive.byteLength; at += chunk) parts.push(archive.slice(at, at + chunk));
  const reader = readTar(streamOf(...parts));
  const out: (TarEntry & { data: string })[] = [];
  for (let entry; (entry = await reader.next());) {
    out.push({ ...entry, data: new TextDecoder().decode(await readAll(entry.body, 1 << 20, "x")) });
  }
  return out;
}

async function fault(archive: Uint8Array): Promise<TarFormatError> {
  const error = await assertRejects(() => entries(archive));
  assert(error instanceof TarFormatError, `not a TarFormatError: ${error}`);
  return error;
}

Deno.test("type flags: '0' and NUL are files, the rest keep their kind", async () => {
  const flags: [string, string][] = [
    ["0", "file"],
    ["\0", "file"],
    ["1", "link"],
    ["2", "symlink"],
    ["3", "character-device"],
    ["4", "block-device"],
    ["5", "directory"],
    ["6", "fifo"],
    ["S", "sparse"],
    ["M", "unsupported"],
    ["V", "unsupported"],
    ["7", "unsupported"],
    ["Z", "unsupported"],
  ];
  const bodyless = (flag: string) => "123456".includes(flag);
  const archive = tarOf(
    ...flags.map(([flag]) =>
      tarEntry(
        { name: `e${flag.charCodeAt(0)}`, type: flag },
        bodyless(flag) ? undefined : bytes("x"),
      )
    ),
  );
  const read = await entries(archive);
  assertEquals(read.map((e) => [e.header.typeflag, e.header.type]), flags);
  assertEquals(read.filter((e) => e.header.type !== "file").length, 11);
});

Deno.test("PAX sparse records mark a file sparse, whichever version", async () => {
  for (const record of ["GNU.sparse.map", "GNU.sparse.major", "GNU.sparse.offset"]) {
    const [entry] = await entries(tarOf(paxEntry({ [record]: "0" }), tarEntry("img", bytes("d"))));
    assertEquals(entry!.header.type, "sparse", record);
  }
  const [plain] = await entries(tarOf(paxEntry({ mtime: "1.5" }), tarEntry("img", bytes("d"))));
  assertEquals(plain!.header.type, "file");
});

Deno.test("names: ustar prefix, GNU long name, PAX path; sizes from PAX; directory by slash", async () => {
  const prefixed = tarHeader({ name: "file.txt", size: 2 });
  prefixed.set(bytes("some/dir"), 345);
  let sum = 0;
  prefixed.fill(0x20, 148, 156);
  for (const b of prefixed) sum += b;
  prefixed.set(bytes(sum.toString(8).padStart(6, "0") + "\0"), 148);
  const long = "l".repeat(150);
  const archive = tarOf(
    concat([prefixed, bytes("ab"), new Uint8Array(510)]),
    gnuLongName(long),
    tarEntry("short", bytes("long")),
    paxEntry({ path: "from-pax", size: "3" }),
    tarEntry({ name: "ignored", size: 3 }, bytes("pax")),
    tarEntry({ name: "dir/", type: "0" }),
  );
  const read = await entries(archive, 7);
  assertEquals(read.map((e) => [e.header.name, e.header.type, e.data]), [
    ["some/dir/file.txt", "file", "ab"],
    [long, "file", "long"],
    ["from-pax", "file", "pax"],
    ["dir/", "directory", ""],
  ]);
});

Deno.test("unread and cancelled bodies are skipped; a body read after the next entry fails", async () => {
  const archive = tarOf(tarEntry("a", new Uint8Array(3000)), tarEntry("b", bytes("bee")));
  const reader = readTar(streamOf(archive));
  const a = await reader.next();
  const b = await reader.next();
  assertEquals(b?.header.name, "b");
  assertEquals(new TextDecoder().decode(await readAll(b!.body, 10, "b")), "bee");
  await assertRejects(() => readAll(a!.body, 4096, "a"));
  assertEquals(await reader.next(), undefined);
});

Deno.test("framing faults: each a TarFormatError, truncation told apart", async () => {
  const good = tarOf(tarEntry("a", bytes("hello")));
  const cases: [string, Uint8Array, boolean][] = [
    ["empty input", new Uint8Array(), true],
    ["no end blocks", good.slice(0, 1024), true],
    ["one end block", good.slice(0, 1536), true],
    ["cut in a body", good.slice(0, 515), true],
    ["cut in a header", good.slice(0, 300), true],
    ["a wrong checksum", tarOf(tarEntry({ name: "a", badChecksum: true }, bytes("x"))), false],
    ["a lone zero block", concat([new Uint8Array(512), tarEntry("a", bytes("x")), EOA]), false],
    ["data after the end", concat([good, bytes("x")]), false],
    ["a non-octal size", tarOf(tarHeader({ name: "a", sizeField: bytes("00000000009\0") })), false],
    [
      "a negative base-256 size",
      tarOf(tarHeader({ name: "a", sizeField: new Uint8Array(12).fill(0xff) })),
      false,
    ],
    [
      "a base-256 size beyond 2^53",
      tarOf(
        tarHeader({ name: "a", sizeField: new Uint8Array([0x80, 0, 0x40, ...new Uint8Array(9)]) }),
      ),
      false,
    ],
    [
      "a malformed PAX record",
      tarOf(tarEntry({ name: "p", type: "x" }, bytes("5 a=b\n")), tarEntry("a")),
      false,
    ],
    ["a PAX size that is no number", tarOf(paxEntry({ size: "1e3" }), tarEntry("a")), false],
    ["a global PAX path", tarOf(paxEntry({ path: "x" }, true), tarEntry("a")), false],
    ["a symlink with a body", tarOf(tarEntry({ name: "l", type: "2" }, bytes("x"))), false],
    ["an extension header at the end", tarOf(paxEntry({ path: "x" })), false],
  ];
  for (const [name, archive, truncated] of cases) {
    assertEquals((await fault(archive)).truncated, truncated, name);
  }
});

Deno.test("zero padding after the end blocks is fine; a checksum summed as signed bytes too", async () => {
  const padded = concat([tarOf(tarEntry("a", bytes("x"))), new Uint8Array(8192)]);
  assertEquals((await entries(padded)).map((e) => e.data), ["x"]);
  const block = tarHeader({ name: "\u00e9t\u00e9", size: 1 });
  let signed = 0;
  block.fill(0x20, 148, 156);
  for (const b of block) signed += b > 127 ? b - 256 : b;
  block.set(bytes(signed.toString(8).padStart(6, "0") + "\0 "), 148);
  const [entry] = await entries(concat([block, bytes("y"), new Uint8Array(511), EOA]));
  assertEquals(entry!.header.name, "\u00e9t\u00e9");
});
