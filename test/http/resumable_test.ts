/**
 * The one resumable HTTP body in process (Deno's fetch), against the raw-socket fault server
 * and a real nginx on loopback: whole bodies and `[start, end)` ranges resumed where they
 * broke, coalesced ranges held to one ETag, the minimum rate against a one-byte-a-second
 * trickle, a slow reader that is not blamed, and Content-Encoding refused.
 */
import { assert, assertEquals, assertMatch, assertRejects, at } from "../helpers/assert.ts";
import { faultServer } from "../helpers/http_faults.ts";
import { startNginx } from "../helpers/nginx.ts";
import { pseudoRandomBytes } from "../helpers/mod.ts";
import { OtaError } from "../../src/errors.ts";
import type { TransferLimits } from "../../src/http/limits.ts";
import { singleOrigin } from "../../src/http/origins.ts";
import { coalesceRanges, readRanges } from "../../src/http/ranges.ts";
import { type BodyOptions, openBody } from "../../src/http/resumable.ts";
import { concat } from "../../src/streams.ts";

const file = pseudoRandomBytes(1_000_000, 7);
const quick: TransferLimits = { idleTimeoutMs: 3000, minBytesPerSecond: 1024, rateWindowMs: 1000 };

function options(
  url: string,
  extra: Partial<BodyOptions> = {},
): BodyOptions & { events: string[] } {
  const events: string[] = [];
  return {
    fetch,
    origins: singleOrigin(url, 5),
    limits: quick,
    backoff: { firstMs: 10, maxMs: 50 },
    onEvent: (m) => events.push(m),
    events,
    ...extra,
  };
}

/** The OtaError that `fn` rejects with. */
async function otaError(fn: () => Promise<unknown>): Promise<OtaError> {
  const error = await assertRejects(fn);
  assert(error instanceof OtaError, String(error));
  return error;
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return concat(chunks);
}

const ranges = (server: { requests: { headers: Record<string, string> }[] }) =>
  server.requests.map((r) => r.headers.range);

Deno.test("a whole body resumes where each connection broke, with If-Range, asking for identity", async () => {
  await using server = await faultServer(file, { dropAfter: 300_000, dropTimes: 3 });
  const o = options(server.url());
  const body = await openBody(o);
  assertEquals(body.validators, { etag: '"v1"', size: file.length });
  assertEquals(await bytesOf(body.stream), file);
  assertEquals(ranges(server), [undefined, "bytes=300000-", "bytes=600000-", "bytes=900000-"]);
  assert(server.requests.slice(1).every((r) => r.headers["if-range"] === '"v1"'));
  assert(server.requests.every((r) => r.headers["accept-encoding"] === "identity"));
  assertMatch(o.events.join("\n"), /at byte 300000\b.*; resuming at byte 300000 in/);
});

Deno.test("a range [start, end) is exactly those bytes, resumed with bytes=offset-(end-1)", async () => {
  await using server = await faultServer(file, { dropAfter: 5000, dropTimes: 1 });
  const body = await openBody(options(server.url()), { start: 1000, end: 60_000 });
  assertEquals(await bytesOf(body.stream), file.slice(1000, 60_000));
  assertEquals(ranges(server), ["bytes=1000-59999", "bytes=6000-59999"]);
  assertEquals(at(server.requests, 1).headers["if-range"], '"v1"');
  // A range that starts at 0 and one that ends at the file's end.
  await using again = await faultServer(file);
  const head = await openBody(options(again.url()), { start: 0, end: 10 });
  assertEquals(await bytesOf(head.stream), file.slice(0, 10));
  const tail = await openBody(options(again.url()), { start: file.length - 10 });
  assertEquals(await bytesOf(tail.stream), file.slice(-10));
  assertEquals(ranges(again), ["bytes=0-9", `bytes=${file.length - 10}-`]);
});

Deno.test("a server that ignores Range: the range is cut out of the whole file", async () => {
  await using server = await faultServer(file, {
    ignoreRange: true,
    dropAfter: 50_000,
    dropTimes: 1,
  });
  const o = options(server.url());
  const body = await openBody(o, { start: 20_000, end: 120_000 });
  assertEquals(await bytesOf(body.stream), file.slice(20_000, 120_000));
  assertEquals(server.requests.length, 2);
  assertMatch(o.events.join("\n"), /does not resume downloads/);
});

Deno.test("coalescing: overlapping, touching and near ranges share a request", () => {
  assertEquals(
    coalesceRanges([{ start: 50, end: 60 }, { start: 0, end: 10 }, { start: 5, end: 20 }]),
    [
      { start: 0, end: 20 },
      { start: 50, end: 60 },
    ],
  );
  assertEquals(coalesceRanges([{ start: 0, end: 10 }, { start: 10, end: 20 }]), [{
    start: 0,
    end: 20,
  }]);
  assertEquals(coalesceRanges([{ start: 0, end: 10 }, { start: 30, end: 40 }], 20), [
    { start: 0, end: 40 },
  ]);
  assertEquals(coalesceRanges([{ start: 0, end: 10 }, { start: 31, end: 40 }], 20).length, 2);
  assertEquals(coalesceRanges([{ start: 5, end: 5 }]), []);
});

Deno.test("readRanges: one request per coalesced span, the pieces are the bytes asked for", async () => {
  await using server = await faultServer(file);
  const wanted = [
    { start: 100, end: 200 },
    { start: 150, end: 400 }, // overlaps the first
    { start: 10_000, end: 10_010 }, // within the gap: same request
    { start: 700_000, end: 800_000 },
  ];
  const got = new Map<number, number>();
  const out = new Uint8Array(file.length);
  for await (const piece of readRanges(options(server.url()), wanted, { maxGap: 64 * 1024 })) {
    out.set(piece.bytes, piece.offset);
    for (let i = 0; i < piece.bytes.length; i++) got.set(piece.offset + i, 1);
  }
  assertEquals(ranges(server), ["bytes=100-10009", "bytes=700000-799999"]);
  assertEquals(at(server.requests, 1).headers["if-range"], '"v1"');
  for (const { start, end } of coalesceRanges(wanted)) {
    assertEquals(out.slice(start, end), file.slice(start, end));
  }
  assertEquals(got.size, 300 + 10 + 100_000);
});

Deno.test("readRanges: a file that changes between two requests is refused, not spliced", async () => {
  await using server = await faultServer(file, { etagChangesAt: 2 });
  const pieces = readRanges(options(server.url()), [{ start: 0, end: 10 }, {
    start: 500_000,
    end: 500_010,
  }]);
  const error = await otaError(async () => {
    for await (const _ of pieces) { /* read on */ }
  });
  assertEquals(error.code, "SOURCE_CHANGED");
});

Deno.test("a server that trickles one byte a second ends with SOURCE_TOO_SLOW in bounded time", async () => {
  await using server = await faultServer(file, { trickleMs: 1000 });
  const started = Date.now();
  const error = await otaError(async () => {
    const body = await openBody(options(server.url(), { origins: singleOrigin(server.url(), 1) }));
    await bytesOf(body.stream);
  });
  const seconds = (Date.now() - started) / 1000;
  assertEquals(error.code, "SOURCE_TOO_SLOW");
  assertMatch(error.message, /failed after 2 attempts at byte \d: \d bytes\/s averaged over 1 s/);
  assertEquals(server.requests.length, 2); // resumed once, then given up
  assert(seconds < 6, `took ${seconds} s`);
});

Deno.test("a reader slower than the minimum rate is not blamed on the server", async () => {
  await using server = await faultServer(file);
  const o = options(server.url(), {
    limits: { idleTimeoutMs: 1000, minBytesPerSecond: 50_000_000, rateWindowMs: 200 },
  });
  const body = await openBody(o);
  const reader = body.stream.getReader();
  let total = 0;
  const started = Date.now();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    await new Promise((r) => setTimeout(r, 20)); // a slow disk
  }
  assertEquals(total, file.length);
  assert(file.length / ((Date.now() - started) / 1000) < 50_000_000, "the reader was not slow");
  assertEquals(server.requests.length, 1);
});

Deno.test("Content-Encoding gzip is refused at once with SOURCE_ENCODING, even though identity was asked for", async () => {
  await using server = await faultServer(file, { gzip: true });
  const error = await otaError(() => openBody(options(server.url())));
  assertEquals(error.code, "SOURCE_ENCODING");
  assertMatch(error.message, /Content-Encoding gzip/);
  assertEquals(server.requests.length, 1);
  assertEquals(at(server.requests, 0).headers["accept-encoding"], "identity");
});

Deno.test("nginx: ranges with its ETag in If-Range; gzip only when forced, then refused", async () => {
  const root = await Deno.makeTempDir({ prefix: "ota-http-nginx-" });
  try {
    await Deno.writeFile(`${root}/a.mender`, file);
    await using nginx = await startNginx(root, "gzip on; gzip_types *; gzip_min_length 1;");
    const url = nginx.url("/a.mender");
    const whole = await openBody(options(url));
    assertMatch(whole.validators.etag!, /^"[0-9a-f]+-[0-9a-f]+"$/);
    assertEquals(await bytesOf(whole.stream), file); // gzip on, but identity asked: plain bytes
    const pieces = new Uint8Array(file.length);
    const wanted = [{ start: 10, end: 20 }, { start: 900_000, end: 900_100 }];
    for await (const piece of readRanges(options(url), wanted)) {
      pieces.set(piece.bytes, piece.offset);
    }
    for (const { start, end } of wanted) {
      assertEquals(pieces.slice(start, end), file.slice(start, end));
    }
    const log = (await nginx.log()).trim().split("\n").filter((l) => l.startsWith("GET"));
    assertEquals(log.length, 3);
    assertMatch(at(log, 0), /"-" "-" "identity" 200 1000000$/);
    assertMatch(at(log, 1), /"bytes=10-19" "-" "identity" 206 10$/);
    // nginx escapes the quotes of the If-Range it logs: the ETag of the first answer.
    const etag = whole.validators.etag!.replaceAll('"', "\\\\x22");
    assertMatch(at(log, 2), new RegExp(`"bytes=900000-900099" "${etag}" "identity" 206 100$`));

    // gzip_static always: the .gz file whatever the request says.
    const { gzipSync } = await import("node:zlib");
    await Deno.writeFile(`${root}/b.mender`, file);
    await Deno.writeFile(`${root}/b.mender.gz`, gzipSync(file));
    await using forced = await startNginx(root, "gzip_static always;");
    const error = await otaError(() => openBody(options(forced.url("/b.mender"))));
    assertEquals(error.code, "SOURCE_ENCODING");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
