/**
 * `ota serve` serves only what it verified, under the ETag it names, and is ready when it
 * listens; each case runs against the server in process (Deno.serve) and against the
 * compiled binary (node:http under Bun):
 * - a file rewritten in place with its size and mtime put back (only ctime moved) is
 *   verified again before it is served again;
 * - a file rewritten, cut short or renamed over during a transfer never yields a complete
 *   body whose SHA-256 differs from the ETag and Repr-Digest: the transfer is broken off;
 * - an artifact in DIR at start is served at once, never 404; one that appears later is
 *   answered 503 with Retry-After until verified, and a peer download waits for it.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { assert, assertEquals, assertNotEquals } from "../helpers/assert.ts";
import { sh, sha256File } from "../helpers/mod.ts";
import { startServer } from "../../src/server/run.ts";
import { peerSources } from "../../src/peers/sources.ts";
import { peerStream } from "../../src/peers/stream.ts";
import { eventually, menderArtifact } from "./fixture.ts";
import { startServe } from "./process.ts";

const work = await Deno.makeTempDir({ prefix: "ota-serve-integrity-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
// Two valid artifacts of the same size (same rootfs size, names of the same length).
const seeds = `${work}/seeds`;
await Deno.mkdir(seeds);
const releaseA = await menderArtifact(seeds, "release-a", "board-a", 300_000);
const releaseB = await menderArtifact(seeds, "release-b", "board-a", 300_000);
const bigA = await menderArtifact(seeds, "big-a", "board-a", 40 * 1024 * 1024);
const bigB = await menderArtifact(seeds, "big-b", "board-a", 40 * 1024 * 1024);
assertEquals((await Deno.stat(releaseA)).size, (await Deno.stat(releaseB)).size);
assertEquals((await Deno.stat(bigA)).size, (await Deno.stat(bigB)).size);
const sha = {
  a: await sha256File(releaseA),
  b: await sha256File(releaseB),
  bigA: await sha256File(bigA),
  bigB: await sha256File(bigB),
};

interface Server {
  url: string;
  stop(): Promise<unknown>;
}

const servers: Record<string, (dir: string) => Promise<Server>> = {
  "in process": async (dir) => {
    const s = await startServer({
      dir,
      host: "127.0.0.1",
      port: 0,
      announce: false,
      rescanMs: 200,
      quietMs: 300,
    });
    return { url: s.url, stop: () => s.close() };
  },
  binary: async (dir) => {
    const s = await startServe([
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--no-announce",
      dir,
      "--rescan",
      "1",
    ]);
    return { url: s.url, stop: () => s.stop() };
  },
};

/** The quiet time of each server: a file must be untouched this long before verification. */
const quietMs = { "in process": 300, binary: 1000 };

async function freshDir(name: string): Promise<string> {
  const dir = `${work}/${name}`;
  await Deno.mkdir(dir);
  return dir;
}

const hex = (digest: string | null) =>
  Buffer.from(digest?.slice(8, -1) ?? "", "base64").toString("hex");

/** Status, ETag, Repr-Digest and, when the whole body arrived, its SHA-256. */
async function download(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  const hash = createHash("sha256");
  let complete = true;
  try {
    for await (const chunk of response.body ?? []) hash.update(chunk);
  } catch {
    complete = false;
  }
  return {
    status: response.status,
    etag: response.headers.get("etag")?.replaceAll('"', ""),
    digest: hex(response.headers.get("repr-digest")),
    retryAfter: response.headers.get("retry-after"),
    sha256: complete ? hash.digest("hex") : undefined,
  };
}

async function listedSha(url: string, file: string): Promise<string | undefined> {
  const listing = await (await fetch(`${url}/artifacts`)).json();
  return listing.artifacts.find((a: { file: string; valid: boolean }) => a.file === file && a.valid)
    ?.sha256;
}

/**
 * Rewrites `path` in place with `bytes` (same inode), then puts its atime and mtime back to
 * the nanosecond with touch(1): only the ctime tells.
 */
async function rewriteInPlace(path: string, bytes: Uint8Array): Promise<void> {
  const times = async () => (await sh(["stat", "-c", "%i %s %.9X %.9Y %.9Z", path])).trim();
  const before = (await times()).split(" ");
  // Deno shows ctime in whole seconds: change it in a later second, so the change shows.
  const wait = Number(before[4]) * 1000 + 1100 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const file = await Deno.open(path, { write: true });
  for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
  file.close();
  await sh(["touch", "-a", "-d", `@${before[2]}`, path]);
  await sh(["touch", "-m", "-d", `@${before[3]}`, path]);
  const after = (await times()).split(" ");
  assertEquals(after.slice(0, 4), before.slice(0, 4));
  assertNotEquals(after[4], before[4]);
}

for (const [kind, start] of Object.entries(servers)) {
  Deno.test(`${kind}: a file rewritten in place, only its ctime changed, is verified again before it is served`, async () => {
    const dir = await freshDir(`inplace-${kind}`);
    await Deno.copyFile(releaseA, `${dir}/x.mender`);
    const server = await start(dir);
    try {
      const url = `${server.url}/artifacts/x.mender`;
      // (Listed at once since the server is ready when it listens; waited for here so that
      // this case stands on its own.)
      await eventually(
        async () => await listedSha(server.url, "x.mender") === sha.a || undefined,
        20_000,
        "the listing",
      );
      assertEquals((await download(url)).sha256, sha.a);
      await rewriteInPlace(`${dir}/x.mender`, await Deno.readFile(releaseB));
      const right = await download(url);
      // Either not served while it is verified again, or served as what it now is.
      if (right.status === 200) assertEquals([right.etag, right.sha256], [sha.b, sha.b]);
      else assertEquals([right.status, right.retryAfter !== null], [503, true]);
      await eventually(
        async () => await listedSha(server.url, "x.mender") === sha.b || undefined,
        20_000,
        "the new listing",
      );
      const after = await download(url);
      assertEquals([after.status, after.etag, after.digest, after.sha256], [
        200,
        sha.b,
        sha.b,
        sha.b,
      ]);
    } finally {
      await server.stop();
    }
  });

  Deno.test(`${kind}: a file rewritten, cut short or renamed over during a transfer never gives a complete body of other bytes`, async () => {
    const dir = await freshDir(`transfer-${kind}`);
    const path = `${dir}/big.mender`;
    await Deno.copyFile(bigA, path);
    const server = await start(dir);
    try {
      const url = `${server.url}/artifacts/big.mender`;
      const other = await Deno.readFile(bigB);
      /** Puts big-a back (a new inode) and waits until it is verified and served again. */
      const restore = async () => {
        await Deno.copyFile(bigA, `${dir}/.fresh`);
        await Deno.rename(`${dir}/.fresh`, path);
        await eventually(
          async () => {
            const head = await fetch(url, { method: "HEAD" });
            await head.body?.cancel();
            return head.status === 200 && head.headers.get("etag") === `"${sha.bigA}"` || undefined;
          },
          30_000,
          "big-a served again",
        );
      };
      const changes: Record<string, () => Promise<void>> = {
        "rewritten in place": () => rewriteInPlace(path, other),
        "cut short": () => Deno.truncate(path, other.length / 2),
        "renamed over": async () => {
          await Deno.writeFile(`${dir}/.next`, other);
          await Deno.rename(`${dir}/.next`, path);
        },
      };
      for (const [change, apply] of Object.entries(changes)) {
        for (const range of [undefined, "bytes=1000-"]) {
          await restore();
          const response = await fetch(url, { headers: range ? { range } : {} });
          assertEquals(response.status, range ? 206 : 200);
          const etag = response.headers.get("etag")?.replaceAll('"', "");
          assertEquals([etag, hex(response.headers.get("repr-digest"))], [sha.bigA, sha.bigA]);
          const reader = response.body!.getReader();
          const hash = createHash("sha256");
          if (range) hash.update((await Deno.readFile(bigA)).subarray(0, 1000));
          hash.update((await reader.read()).value!); // the transfer is under way
          await apply();
          let complete = true;
          try {
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              hash.update(value);
            }
          } catch {
            complete = false;
          }
          const what = `${change}, ${range ?? "whole file"}`;
          if (complete) assertEquals(hash.digest("hex"), sha.bigA, `${what}: other bytes`);
          // A file rewritten or shortened cannot have been sent whole: broken off.
          if (change !== "renamed over") assert(!complete, `${what}: not broken off`);
        }
      }
    } finally {
      await server.stop();
    }
  });

  Deno.test(`${kind}: ready when it listens; a file that appears later is 503 with Retry-After, never 404`, async () => {
    const dir = await freshDir(`startup-${kind}`);
    await Deno.copyFile(releaseA, `${dir}/old.mender`);
    await new Promise((r) => setTimeout(r, quietMs[kind as keyof typeof quietMs] + 100));
    await Deno.copyFile(releaseB, `${dir}/just-copied.mender`); // written right before start
    const server = await start(dir);
    try {
      for (const [file, expected] of [["old.mender", sha.a], ["just-copied.mender", sha.b]]) {
        const first = await download(`${server.url}/artifacts/${file}`);
        assertEquals([first.status, first.sha256], [200, expected], file);
      }
      // After the start: never 404 while it is verified; a peer download waits for it.
      await Deno.copyFile(releaseB, `${dir}/later.mender`);
      const meanwhile = await download(`${server.url}/artifacts/later.mender`);
      assertEquals([meanwhile.status, meanwhile.retryAfter], [503, "2"]);
      const events: string[] = [];
      const sources = peerSources([`${server.url}/artifacts/later.mender`]);
      const hash = createHash("sha256");
      for await (
        const chunk of peerStream(
          { sha256: sha.b, size: (await Deno.stat(releaseB)).size },
          sources,
          { onEvent: (m) => events.push(m) },
        )
      ) {
        hash.update(chunk);
      }
      assertEquals(hash.digest("hex"), sha.b);
      assert(events.some((e) => /busy/.test(e)), events.join("\n"));
    } finally {
      await server.stop();
    }
  });
}
