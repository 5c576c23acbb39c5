/**
 * Peer downloads go through the one resumable body (src/http/resumable.ts): the same
 * Accept-Encoding, Range/If-Range and rate rules as `ota install URL`, with the peers as
 * origins: a peer that trickles is left for the next, one that sends gzip is dropped, a
 * broken transfer resumes with the listing's SHA-256 as If-Range.
 */
import { assert, assertEquals, assertMatch, at } from "../helpers/assert.ts";
import { faultServer } from "../helpers/http_faults.ts";
import { pseudoRandomBytes } from "../helpers/mod.ts";
import { peerSources } from "../../src/peers/sources.ts";
import { peerStream } from "../../src/peers/stream.ts";
import { concat, sha256Hex } from "../../src/streams.ts";
import { isOtaError } from "../../src/errors.ts";

const file = pseudoRandomBytes(600_000, 11);
const sha = sha256Hex(file);
const target = { sha256: sha, size: file.length };
const limits = { idleTimeoutMs: 3000, minBytesPerSecond: 1024, rateWindowMs: 1000 };
/** `() => 0.999` keeps the given order of peers. */
const inOrder = { random: () => 0.999, triesPerPeer: 1 };

async function read(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return concat(chunks);
}

Deno.test("a gzip peer is dropped, a trickling one left, the next one delivers", async () => {
  await using trickle = await faultServer(file, { etag: `"${sha}"`, trickleMs: 1000 });
  await using gzip = await faultServer(file, { etag: `"${sha}"`, gzip: true });
  await using honest = await faultServer(file, { etag: `"${sha}"` });
  const sources = peerSources([gzip.url(), trickle.url(), honest.url()], inOrder);
  const events: string[] = [];
  let delivered: string[] = [];
  const started = Date.now();
  const bytes = await read(peerStream(target, sources, {
    limits,
    retryDelayMs: 10,
    onEvent: (m) => events.push(m),
    onComplete: (peers) => delivered = peers,
  }));
  assertEquals(bytes, file);
  // The trickle may have delivered a byte before it was left: the rest resumed from there.
  assertEquals(delivered.at(-1), honest.url());
  assert(!delivered.includes(gzip.url()));
  const log = events.join("\n");
  assertMatch(
    log,
    /bytes\/s averaged over 1 s, below the minimum of 1024; (retrying|resuming at byte \d+) from/,
  );
  assertMatch(log, /dropped http:\S+: the server sent the file with Content-Encoding gzip/);
  assert(Date.now() - started < 6000, "the trickle held the download up");
  for (const server of [trickle, gzip, honest]) {
    assertEquals(at(server.requests, 0).headers["accept-encoding"], "identity");
  }
});

Deno.test("a broken peer transfer resumes with the SHA-256 as If-Range", async () => {
  await using peer = await faultServer(file, {
    etag: `"${sha}"`,
    dropAfter: 200_000,
    dropTimes: 2,
  });
  const sources = peerSources([peer.url()], { random: () => 0.999 });
  const events: string[] = [];
  const bytes = await read(
    peerStream(target, sources, { limits, retryDelayMs: 10, onEvent: (m) => events.push(m) }),
  );
  assertEquals(bytes, file);
  assertEquals(peer.requests.map((r) => r.headers.range), [
    undefined,
    "bytes=200000-",
    "bytes=400000-",
  ]);
  assert(peer.requests.slice(1).every((r) => r.headers["if-range"] === `"${sha}"`));
  assertMatch(events.join("\n"), /resuming at byte 200000/);
});

Deno.test("a peer answering with another ETag is dropped; with none left the download fails", async () => {
  await using other = await faultServer(file, { etag: '"something-else"' });
  const sources = peerSources([other.url()], inOrder);
  const error = await read(peerStream(target, sources, { limits })).then(
    () => undefined,
    (e) => e,
  );
  assert(isOtaError(error, "PEER_DOWNLOAD_FAILED"), String(error));
  assertMatch(error.message, /dropped, the file changed on the server \(ETag/);
});
