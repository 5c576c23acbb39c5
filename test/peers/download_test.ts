/**
 * The peer download library over real HTTP on loopback: an `ota serve` in-process and a peer
 * that lies (right length and ETag, wrong bytes). The liar is dropped and the download is
 * completed from the honest peer. Keeping a copy for peers: verified, bounded, cleaned up.
 */
import { assertEquals, assertMatch, xorAt } from "../helpers/assert.ts";
import { sha256File } from "../helpers/mod.ts";
import { downloadFromPeers } from "../../src/peers/download.ts";
import { keepWhileStreaming } from "../../src/peers/keep.ts";
import { peerSources } from "../../src/peers/sources.ts";
import { readFileStream } from "../../src/files.ts";
import { drain } from "../../src/streams.ts";
import { startServer } from "../../src/server/run.ts";
import { eventually, menderArtifact } from "../server/fixture.ts";

Deno.test({
  name: "a peer serving wrong bytes is dropped and the next one completes the file",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ota-peer-dl-" });
    const artifact = await menderArtifact(dir, "release-2", "board-a", 2 * 1024 * 1024);
    const bytes = await Deno.readFile(artifact);
    const sha = await sha256File(artifact);
    const honest = await startServer({
      dir,
      host: "127.0.0.1",
      port: 0,
      announce: false,
      rescanMs: 200,
      quietMs: 300,
    });
    const wrong = new Uint8Array(bytes);
    xorAt(wrong, wrong.byteLength - 10, 0x55);
    const liar = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () =>
        new Response(wrong, {
          headers: { etag: `"${sha}"`, "content-length": String(wrong.byteLength) },
        }),
    );
    try {
      await eventually(
        async () => {
          const listing = await (await fetch(`${honest.url}/artifacts`)).json();
          return listing.artifacts.length ? true : undefined;
        },
        15_000,
        "the listing",
      );
      const liarUrl = `http://127.0.0.1:${liar.addr.port}/artifacts/release-2.mender`;
      const honestUrl = `${honest.url}/artifacts/release-2.mender`;
      const sources = peerSources([liarUrl, honestUrl], { random: () => 0.999 });
      assertEquals(sources.remaining(), [liarUrl, honestUrl]);
      const events: string[] = [];
      const out = `${dir}/out.bin`;
      const result = await downloadFromPeers(
        { sha256: sha, size: bytes.byteLength },
        sources,
        out,
        {
          onEvent: (m) => events.push(m),
        },
      );
      assertEquals(await sha256File(out), sha);
      assertEquals(result.peers, [honestUrl]);
      assertEquals(sources.remaining(), [honestUrl]);
      assertMatch(sources.history().join("\n"), /dropped, delivered a file whose SHA-256/);
      assertMatch(events.join("\n"), /starting over/);
    } finally {
      await liar.shutdown();
      await honest.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("keeping a copy for peers: verified and renamed, or skipped, never half-written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ota-keep-" });
  try {
    const artifact = await menderArtifact(dir, "release-2", "board-a", 500_000);
    const size = (await Deno.stat(artifact)).size;
    const kept = `${dir}/kept`;
    const logs: string[] = [];
    const stream = await keepWhileStreaming(readFileStream(artifact), {
      dir: kept,
      file: "release-2.mender",
      size,
      log: (m) => logs.push(m),
    });
    assertEquals(await drain(stream), size);
    assertEquals(await sha256File(`${kept}/release-2.mender`), await sha256File(artifact));
    assertEquals([...Deno.readDirSync(kept)].length, 1);

    // Over the limit: the stream still passes, nothing is written.
    const limited = await keepWhileStreaming(readFileStream(artifact), {
      dir: kept,
      file: "again.mender",
      size,
      maxDirBytes: size + 1000,
      log: (m) => logs.push(m),
    });
    assertEquals(await drain(limited), size);
    assertMatch(logs.join("\n"), /not keeping a copy for peers: .* over its limit/);

    // Stopped early (an install that failed): the partial copy is removed. (Stopping within
    // the last MiB, the tar's padding, still completes the copy.)
    const large = await menderArtifact(dir, "large", "board-a", 4 * 1024 * 1024);
    const early = await keepWhileStreaming(readFileStream(large), {
      dir: kept,
      file: "early.mender",
      size: (await Deno.stat(large)).size,
    });
    const reader = early.getReader();
    await reader.read();
    await reader.cancel();
    // A corrupt stream: the copy does not verify and is not kept.
    const broken = new Uint8Array(await Deno.readFile(artifact));
    xorAt(broken, Math.floor(size / 2), 1);
    const bad = await keepWhileStreaming(new Blob([broken]).stream(), {
      dir: kept,
      file: "bad.mender",
      size,
      log: (m) => logs.push(m),
    });
    await drain(bad);
    assertMatch(logs.join("\n"), /did not verify/);
    assertEquals([...Deno.readDirSync(kept)].map((e) => e.name), ["release-2.mender"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
