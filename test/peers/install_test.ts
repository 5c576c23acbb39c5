/**
 * `ota install --from-peer` on simulated A/B devices (the compiled binary throughout): one
 * device installs from a laptop's `ota serve`, keeps a verified copy, and serves it on to
 * the next device, which installs from it. Artifacts that do not fit are never chosen.
 */
import { assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { ota, sha256File } from "../helpers/mod.ts";
import { fixture } from "../e2e/fixture.ts";
import { startServe } from "../server/process.ts";

async function whenListed(url: string, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const listing = await fetch(`${url}/artifacts`).then((r) => r.json()).catch(() => undefined);
    if ((listing?.artifacts ?? []).filter((a: { valid: boolean }) => a.valid).length >= count) {
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} never listed ${count} artifact(s)`);
}

Deno.test("a device installs from a peer, keeps a verified copy, and the next installs from it", async () => {
  await using first = await fixture();
  await using second = await fixture();
  const laptopDir = `${first.dir}/laptop`;
  const keptDir = `${first.dir}/kept`;
  await Deno.mkdir(laptopDir);
  const artifact = await first.rootfsArtifact("release-2");
  await Deno.rename(artifact, `${laptopDir}/release-2.mender`);
  await Deno.rename(
    await first.rootfsArtifact("other-board", { deviceType: "some-other-board" }),
    `${laptopDir}/other-board.mender`,
  );
  const laptop = await startServe([
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--no-announce",
    laptopDir,
  ]);
  try {
    await whenListed(laptop.url, 2);
    const install = await first.ota(
      "install",
      "--from-peer",
      "--peer",
      laptop.url,
      "--keep-for-peers",
      keptDir,
    );
    assertEquals(install.code, 0, install.stderr);
    assertStringIncludes(install.stdout, "Installed, but not committed.");
    assertMatch(install.stderr + install.stdout, /release-2/);
    assertEquals((await first.state()).upgrade, "1");
    assertEquals(
      await sha256File(`${keptDir}/release-2.mender`),
      await sha256File(`${laptopDir}/release-2.mender`),
    );
    assertEquals([...Deno.readDirSync(keptDir)].map((e) => e.name), ["release-2.mender"]);
  } finally {
    await laptop.stop();
  }
  // The laptop is gone; the first device passes the update on.
  const device = await startServe(["--host", "127.0.0.1", "--port", "0", "--no-announce", keptDir]);
  try {
    await whenListed(device.url, 1);
    const install = await second.ota("install", "--from-peer", "release-2", "--peer", device.url);
    assertEquals(install.code, 0, install.stderr);
    assertEquals((await second.state()).upgrade, "1");
    assertEquals((await second.boot()).slotId, "release-2 rootfs");
  } finally {
    await device.stop();
  }
});

Deno.test("--from-peer refuses when nothing fits, and with a URI too", async () => {
  await using f = await fixture();
  const dir = `${f.dir}/srv`;
  await Deno.mkdir(dir);
  await Deno.rename(
    await f.rootfsArtifact("other-board", { deviceType: "some-other-board" }),
    `${dir}/other-board.mender`,
  );
  const server = await startServe(["--host", "127.0.0.1", "--port", "0", "--no-announce", dir]);
  try {
    await whenListed(server.url, 1);
    const refused = await f.ota("install", "--from-peer", "--peer", server.url);
    assertEquals(refused.code, 1);
    assertMatch(refused.stderr, /does not fit.*some-other-board.*\[PEER_NO_ARTIFACT\]/);
    assertEquals((await f.state()).upgrade, "0");
    const both = await f.ota("install", "x.mender", "--from-peer");
    assertEquals(both.code, 1);
    assertMatch(both.stderr, /\[BAD_ARGUMENTS\]/);
  } finally {
    await server.stop();
  }
});

Deno.test("`ota peers` and `ota install --from-peer` judge an artifact alike, from the same device", async () => {
  // never updated by ota: the installed name comes from artifact_info (factory-image)
  await using f = await fixture();
  const dir = `${f.dir}/srv`;
  await Deno.mkdir(dir);
  for (const [name, depends] of [["fits", "factory-image"], ["wants-release-1", "release-1"]]) {
    const artifact = await f.rootfsArtifact(name!, { extra: ["-N", depends!] });
    await Deno.rename(artifact, `${dir}/${name}.mender`);
  }
  const server = await startServe(["--host", "127.0.0.1", "--port", "0", "--no-announce", dir]);
  try {
    await whenListed(server.url, 2);
    // MENDER_CONF_DIR / MENDER_DATA_DIR name the device, as for every other command
    const env = {
      ...Deno.env.toObject(),
      MENDER_CONF_DIR: `${f.device.dir}/etc/mender`,
      MENDER_DATA_DIR: f.device.data,
    };
    const peers = await ota(["peers", "--json", "--peer", server.url, "--wait", "0"], { env });
    assertEquals(peers.code, 0, peers.stderr);
    const listed = JSON.parse(peers.stdout) as {
      device: { deviceType: string; provides: Record<string, string> };
      offers: { artifact: { name: string }; reasons: string[] }[];
    };
    assertEquals(listed.device.deviceType, f.device.deviceType);
    assertEquals(listed.device.provides.artifact_name, "factory-image");
    const fit = listed.offers.filter((o) => !o.reasons.length).map((o) => o.artifact.name);
    assertEquals(fit, ["fits"]);
    const install = await f.ota("install", "--from-peer", "--peer", server.url);
    assertEquals(install.code, 0, install.stderr);
    assertMatch(install.stderr, /fits/);
    assertEquals((await f.boot()).slotId, "fits rootfs");
    const refused = await f.ota("install", "--from-peer", "wants-release-1", "--peer", server.url);
    assertEquals(refused.code, 1);
  } finally {
    await server.stop();
  }
});
