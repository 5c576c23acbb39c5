/**
 * Adaptive installs with the binary on a simulated board, from the servers a fleet uses:
 * `ota serve`, a plain nginx that honours Range, peers on the LAN through --from-peer (one
 * of them lying about the pieces it sends), and a server that ignores Range. The new slot
 * must hold exactly the new image, the bootloader be switched only after it was verified,
 * the log say what was reused, and --progress=json count bytes fetched against the payload.
 */
import { slotImage } from "../../examples/device/device.ts";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { faultServer } from "../helpers/http_faults.ts";
import { BINARY, run, sha256File } from "../helpers/mod.ts";
import { startNginx } from "../helpers/nginx.ts";
import { startServe } from "../server/process.ts";
import { members, rangeServer } from "../adaptive/kit.ts";
import { type AdaptiveBoard, adaptiveBoard, adaptiveLines } from "./adaptive_fixture.ts";

async function whenListed(url: string): Promise<unknown> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const listing = await fetch(`${url}/artifacts`).then((r) => r.json()).catch(() => undefined);
    if (listing?.artifacts?.some((a: { valid: boolean }) => a.valid)) return listing;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} never listed the artifact`);
}

/** The new slot holds the new image, boots, and commits. */
async function installedAndCommits(b: AdaptiveBoard): Promise<void> {
  assertEquals(await sha256File(slotImage(b.f.device.dir, 3)), await sha256File(b.newImage));
  assertEquals((await b.f.env()).upgrade_available, "1");
  assertEquals((await b.f.boot()).slotId, "release-2 rootfs");
  const commit = await b.f.ota("commit");
  assertEquals(commit.code, 0, commit.stderr);
  assertEquals((await b.f.ota("show-artifact")).stdout.trim(), "release-2");
}

async function payloadSize(b: AdaptiveBoard): Promise<number> {
  return members(await Deno.readFile(b.artifact)).get("data/0000.tar.gz")!.bytes.length;
}

Deno.test("adaptive: from ota serve, the running slot's blocks are reused and the rest fetched", async () => {
  await using b = await adaptiveBoard();
  const scripts = `${b.f.device.dir}/etc/mender/scripts`;
  for (const name of ["Download_Enter_00", "Download_Leave_00"]) {
    await Deno.writeTextFile(`${scripts}/${name}`, `#!/bin/sh\necho ${name} >> ${b.f.dir}/ran\n`, {
      mode: 0o755,
    });
  }
  const serve = await startServe([
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--no-announce",
    b.serveDir,
  ]);
  try {
    await whenListed(serve.url);
    const install = await b.f.ota(
      "install",
      `${serve.url}/artifacts/release-2.mender`,
      "--progress=json",
    );
    assertEquals(install.code, 0, install.stderr);
    const lines = adaptiveLines(install.stderr);
    assertMatch(lines.join("\n"), /Adaptive update: .* already; fetching .* in \d+ request/);
    assertMatch(lines.join("\n"), /Reused .* from the running slot/);
    assertEquals(
      await Deno.readTextFile(`${b.f.dir}/ran`),
      "Download_Enter_00\nDownload_Leave_00\n",
    );
    // progress: bytes fetched against the payload's size, far from all of it
    const events = install.stderr.split("\n").filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l));
    const done = events.filter((e) => e.step === "download" && e.event === "done").at(-1);
    assertEquals(done.total, await payloadSize(b));
    assert(done.bytes > 0 && done.bytes < done.total * 0.3, JSON.stringify(done));
    await installedAndCommits(b);
  } finally {
    await serve.stop();
  }
});

Deno.test("adaptive: from a plain nginx, every request a range, a fraction of the artifact sent", async () => {
  await using b = await adaptiveBoard({ compression: "none" });
  await using nginx = await startNginx(b.serveDir);
  const install = await b.f.ota("install", nginx.url("/release-2.mender"));
  assertEquals(install.code, 0, install.stderr);
  assertMatch(adaptiveLines(install.stderr).join("\n"), /Reused/);
  const requests = (await nginx.log()).trim().split("\n").filter((l) => l.startsWith("GET "));
  assert(
    requests.every((l) => /"bytes=\d+-\d+"/.test(l) && / 206 \d+$/.test(l)),
    requests.join("\n"),
  );
  const sent = requests.reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);
  const size = (await Deno.stat(b.artifact)).size;
  assert(sent < size * 0.3, `nginx sent ${sent} of ${size} bytes in ${requests.length} requests`);
  await installedAndCommits(b);
});

Deno.test("adaptive: through --from-peer, a lying peer's pieces are caught and fetched elsewhere", async () => {
  await using b = await adaptiveBoard();
  const serve = await startServe([
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--no-announce",
    b.serveDir,
  ]);
  const listing = await whenListed(serve.url).finally(() => serve.stop());
  const sha = (listing as { artifacts: { sha256: string }[] }).artifacts[0]!.sha256;
  const bytes = await Deno.readFile(b.artifact);
  const pieces = members(bytes).get("data/0000.tar.gz")!.offset + 2048;
  // both list the same file with the same ETag; one flips a byte of every piece it sends,
  // the other is busy for the first piece asked of it, so the liar is asked in any order
  await using liar = rangeServer(bytes, { etag: `"${sha}"`, listing, lieFrom: pieces });
  await using honest = rangeServer(bytes, {
    etag: `"${sha}"`,
    listing,
    busyFrom: { offset: pieces, times: 1 },
  });
  const install = await b.f.ota(
    "install",
    "--from-peer",
    "--peer",
    liar.base,
    "--peer",
    honest.base,
  );
  assertEquals(install.code, 0, install.stderr);
  // caught at its first piece; a request sent ahead to it may have been under way then
  const asked = liar.served.ranges.filter((r) => r !== undefined && r.start >= pieces).length;
  assert(asked >= 1 && asked <= 2, `the liar was asked for ${asked} pieces`);
  assertMatch(
    install.stderr,
    new RegExp(
      `dropped ${liar.base}\\S*: (block \\d+ does not match|piece \\d+ does not decompress)`,
    ),
  );
  await installedAndCommits(b);
});

Deno.test("adaptive: a server that ignores Range gets the whole artifact downloaded", async () => {
  await using b = await adaptiveBoard();
  await using server = await faultServer(await Deno.readFile(b.artifact), { ignoreRange: true });
  const install = await b.f.ota("install", server.url());
  assertEquals(install.code, 0, install.stderr);
  assertMatch(
    adaptiveLines(install.stderr).join("\n"),
    /does not serve the artifact by byte ranges/,
  );
  await installedAndCommits(b);
});

Deno.test("adaptive: an index over --adaptive-max-index takes larger blocks, said so, and installs", async () => {
  await using b = await adaptiveBoard({ write: ["--adaptive-max-index", "16K"] });
  const notice = new RegExp(
    "the adaptive index of release-2.ext4 at 4096-byte blocks would take more than 16384 " +
      "bytes: written with (\\d+)-byte blocks",
  ).exec(b.written);
  assert(notice, b.written);
  const read = await run([BINARY, "artifact", "read", "--json", b.artifact]);
  const index = JSON.parse(read.stdout).payloads[0].metaData["ota.adaptive"];
  assertEquals(index.block_size, Number(notice[1]));
  assert(index.block_size > 4096 && JSON.stringify(index).length <= 16384);
  // a plain artifact all the same, for the real mender-artifact
  const validate = await run(["mender-artifact", "validate", b.artifact]);
  assertEquals(validate.code, 0, validate.stderr);
  await using nginx = await startNginx(b.serveDir);
  const install = await b.f.ota("install", nginx.url("/release-2.mender"));
  assertEquals(install.code, 0, install.stderr);
  assertMatch(adaptiveLines(install.stderr).join("\n"), /Reused/);
  await installedAndCommits(b);
});
