/**
 * An adaptive install in process, from a loopback server with Range: the head in a few
 * ranged requests and verified by the normal reader, the stream held past the head until
 * the payload is read whole, the running slot's blocks reused and only the other pieces
 * fetched; a lying origin, a peer that lies beside one that does not, a running slot that
 * changed after it was hashed, and a checksum that does not match.
 */
import {
  ADAPTIVE_KEY,
  type AdaptiveIndexJson,
  readAdaptiveIndex,
} from "../../src/artifact/adaptive_index.ts";
import { openArtifact } from "../../src/artifact/reader.ts";
import { assembleImage } from "../../src/adaptive/assemble.ts";
import { makePlan } from "../../src/adaptive/plan.ts";
import { openRanged, type RangedSource } from "../../src/adaptive/ranged_source.ts";
import { scanSlot } from "../../src/adaptive/scan.ts";
import { OtaError } from "../../src/errors.ts";
import { singleOrigin } from "../../src/http/origins.ts";
import { peerSources } from "../../src/peers/sources.ts";
import { peerRanged } from "../../src/peers/stream.ts";
import { concat, sha256Hex, streamOf } from "../../src/streams.ts";
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { editArtifact } from "../helpers/artifact_edit.ts";
import { faultServer } from "../helpers/http_faults.ts";
import { tempDir } from "../helpers/mod.ts";
import { adaptiveArtifact, images, rangeServer, type ServeOptions, version1Of } from "./kit.ts";

const limits = { idleTimeoutMs: 5000, minBytesPerSecond: 0, rateWindowMs: 5000 };

function overUrl(url: string, retries = 2): Promise<RangedSource> {
  return openRanged({
    name: url,
    fetch,
    origins: singleOrigin(url, retries),
    limits,
    backoff: { firstMs: 10, maxMs: 50 },
  });
}

/** The stream's bytes, each chunk copied before the next is read (as the partition writer). */
async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk.slice());
  return concat(chunks);
}

/** What the rootfs-image handler does, up to the bytes it would write. */
async function install(
  source: RangedSource,
  activePath: string,
  options: { sha256?: string; beforeAssembly?: () => Promise<void> } = {},
) {
  const artifact = await openArtifact(source.stream);
  try {
    const payload = artifact.header.payloads[0]!;
    const index = readAdaptiveIndex(payload.metaData)!;
    const layout = source.ranges.layout()!;
    const scan = await scanSlot(activePath, index, 2 * index.size);
    const plan = makePlan(index, scan, layout.offset, layout.fileSize);
    await options.beforeAssembly?.();
    const { stream, stats } = await assembleImage({
      index,
      plan,
      layout,
      ranges: source.ranges,
      activePath,
      sha256: options.sha256 ?? artifact.manifest.get("data/0000/rootfs.img")!,
    });
    return { image: await bytesOf(stream), stats, plan };
  } finally {
    await artifact.cancel();
  }
}

async function setup(compression: "none" | "gzip", serve: ServeOptions = {}) {
  const dir = await tempDir("ota-adaptive-");
  const pair = await images(dir.path);
  const bytes = await Deno.readFile(await adaptiveArtifact(dir.path, pair.newPath, compression));
  const server = rangeServer(bytes, { etag: `"${sha256Hex(bytes)}"`, ...serve });
  return {
    dir,
    pair,
    bytes,
    server,
    async [Symbol.asyncDispose]() {
      await server[Symbol.asyncDispose]();
      await dir[Symbol.asyncDispose]();
    },
  };
}

for (const compression of ["gzip", "none"] as const) {
  Deno.test(`adaptive ${compression}: the head by ranges, then only the pieces the slot lacks`, async () => {
    await using s = await setup(compression);
    const source = await overUrl(s.server.url);
    const { image, stats, plan } = await install(source, s.pair.oldPath);
    assertEquals(image, s.pair.new);
    const requests = s.server.served.ranges;
    assert(requests.every((r) => r !== undefined), "every request asks for a range");
    // 4 KiB, then the header and the payload's lead in one; then one request per span
    assertEquals(requests.length, 2 + plan.spans.length);
    assertEquals(s.server.served.sent(), source.ranges.fetched());
    assert(stats.copied > 3_000_000 && stats.zeros === 200 * 4096, JSON.stringify(stats));
    assertEquals(stats.repaired + stats.refetched, 0);
    // 24 changed blocks, the 3 shifted into, the short last block, the index; far below the whole
    assert(source.ranges.fetched() < s.bytes.length / 4, `${source.ranges.fetched()} fetched`);
  });
}

Deno.test("adaptive: an artifact with a version 1 index (as ota wrote them before) installs adaptively", async () => {
  await using s = await setup("gzip");
  const indexIn = async (bytes: Uint8Array) => {
    const artifact = await openArtifact(streamOf(bytes));
    await artifact.cancel();
    return artifact.header.payloads[0]!.metaData![ADAPTIVE_KEY] as AdaptiveIndexJson;
  };
  const json = await indexIn(s.bytes);
  // the payload as it is; only the index in the header replaced, with Python's tarfile
  const edited = await editArtifact(s.dir.path, s.bytes, [{
    op: "json",
    member: "headers/0000/meta-data",
    path: [ADAPTIVE_KEY],
    value: version1Of(json, s.pair.new),
  }]);
  assertEquals((await indexIn(edited.bytes)).version as number, 1);
  await using server = rangeServer(edited.bytes, { etag: `"${sha256Hex(edited.bytes)}"` });
  const source = await overUrl(server.url);
  const { image, stats, plan } = await install(source, s.pair.oldPath);
  assertEquals(image, s.pair.new);
  assert(stats.copied > 3_000_000 && stats.zeros === 200 * 4096, JSON.stringify(stats));
  assertEquals(plan.spans.length, 4);
});

Deno.test("adaptive: past the head the artifact waits, and streams whole once released", async () => {
  await using s = await setup("gzip");
  const source = await overUrl(s.server.url);
  const artifact = await openArtifact(source.stream);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assertEquals(s.server.served.ranges.length, 2, "nothing past the head was asked for");
  source.ranges.release();
  await artifact.finish(); // every payload byte read and checked against the manifest
  assertEquals(s.server.served.ranges.length, 3);
  assertEquals(s.server.served.ranges[2]?.end, s.bytes.length);
});

Deno.test("adaptive: connections that break, in the head and in pieces, resume where they broke", async () => {
  await using s = await setup("gzip");
  await using server = await faultServer(s.bytes, { dropAfter: 20_000, dropTimes: 3 });
  const source = await overUrl(server.url(), 5);
  const { image, plan } = await install(source, s.pair.oldPath);
  assertEquals(image, s.pair.new);
  const resumed = server.requests.map((r) => r.headers.range).filter((range) => {
    const start = Number(/^bytes=(\d+)-/.exec(range ?? "")?.[1]);
    return [4096, ...plan.spans.map((span) => span.start)].every((at) => at !== start) &&
      start > 0;
  });
  assertEquals(resumed.length, 3, server.requests.map((r) => r.headers.range).join(" "));
});

Deno.test("adaptive: a server that ignores Range leaves no layout and the artifact streams whole", async () => {
  await using s = await setup("gzip", { ignoreRange: true });
  const source = await overUrl(s.server.url);
  assertEquals(source.ranges.layout(), undefined);
  const artifact = await openArtifact(source.stream);
  await artifact.finish();
  assertEquals(s.server.served.ranges, [undefined, undefined]);
});

Deno.test("adaptive: one origin that lies about a piece ends the adaptive install", async () => {
  await using s = await setup("gzip", { lieFrom: 70_000 });
  const source = await overUrl(s.server.url);
  const error = await assertRejects(() => install(source, s.pair.oldPath));
  assert(error instanceof OtaError && error.code === "ADAPTIVE_MISMATCH", String(error));
});

Deno.test("adaptive: a lying peer is dropped and its pieces come from the next one", async () => {
  await using s = await setup("gzip", { lieFrom: 70_000 });
  await using honest = rangeServer(s.bytes, { etag: `"${sha256Hex(s.bytes)}"` });
  const sources = peerSources([s.server.url, honest.url], { random: () => 0.5 });
  const events: string[] = [];
  const source = await peerRanged(
    { sha256: sha256Hex(s.bytes), size: s.bytes.length },
    sources,
    "two peers",
    { onEvent: (m) => events.push(m), limits, retryDelayMs: 10 },
  );
  const { image, stats } = await install(source, s.pair.oldPath);
  assertEquals(image, s.pair.new);
  // the request sent ahead to it before it was caught is asked again too
  assert(stats.refetched >= 1 && stats.refetched <= 2, JSON.stringify(stats));
  assertEquals(sources.remaining(), [honest.url]);
  assert(events.some((e) => e.startsWith(`dropped ${s.server.url}`)), events.join("\n"));
  assert(honest.served.ranges.length > 0);
});

Deno.test("adaptive: blocks the running slot lost after it was hashed are fetched alone", async () => {
  await using s = await setup("gzip");
  const source = await overUrl(s.server.url);
  const { image, stats } = await install(source, s.pair.oldPath, {
    async beforeAssembly() {
      const file = await Deno.open(s.pair.oldPath, { write: true });
      await file.seek(300 * 4096 + 10, Deno.SeekMode.Start);
      await file.write(new Uint8Array([1, 2, 3]));
      file.close();
    },
  });
  assertEquals(image, s.pair.new);
  assertEquals(stats.repaired, 1);
});

Deno.test("adaptive: an image that does not match the manifest errors instead of ending", async () => {
  await using s = await setup("none");
  const source = await overUrl(s.server.url);
  const error = await assertRejects(() =>
    install(source, s.pair.oldPath, { sha256: "0".repeat(64) })
  );
  assert(error instanceof OtaError && error.code === "ADAPTIVE_MISMATCH", String(error));
});
