/**
 * Peers on a real (virtual) LAN: network namespaces on a bridge, the compiled binary in each.
 * Two hosts serve the same artifact and announce it with mDNS; another host discovers them,
 * lists what fits it, and fetches while the serving peer is killed mid-transfer: the fetch
 * resumes from the other peer, or from the same one once it is back.
 */
import { assert, assertEquals, assertMatch, at } from "../helpers/assert.ts";
import { BINARY, sha256File } from "../helpers/mod.ts";
import { menderArtifact } from "../server/fixture.ts";
import { startServe } from "../server/process.ts";
import { type Lan, makeLan } from "./lan.ts";

const work = await Deno.makeTempDir({ prefix: "ota-lan-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
const seed = `${work}/seed`;
await Deno.mkdir(seed);
// Large enough to be mid-transfer when the server is killed (links are limited below).
const big = await menderArtifact(seed, "release-2", "board-a", 24 * 1024 * 1024);
await menderArtifact(seed, "for-other-board", "board-b", 100_000);
await Deno.writeTextFile(`${seed}/broken.mender`, "not an artifact at all\n".repeat(500));
const bigSha = await sha256File(big);
const bigSize = (await Deno.stat(big)).size;

async function whenListed(lan: Pick<Lan, "exec">, host: number, url: string) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const out = await new Deno.Command(lan.exec(host)[0], {
      args: [...lan.exec(host).slice(1), "curl", "-s", `${url}/artifacts`],
      stdout: "piped",
      stderr: "null",
    }).output();
    try {
      const listing = JSON.parse(new TextDecoder().decode(out.stdout));
      if (listing.pending === 0 && listing.artifacts.length === 3) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} never listed everything`);
}

function spawn(cmd: string[]) {
  if (cmd[0] === undefined) throw new Error("an empty command line");
  return new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" }).spawn();
}

async function output(child: Deno.ChildProcess) {
  const out = await child.output();
  const d = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: d(out.stdout), stderr: d(out.stderr) };
}

/** Waits until the file exists with at least `bytes` bytes. */
async function grows(path: string, bytes: number) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const size = await Deno.stat(path).then((s) => s.size).catch(() => 0);
    if (size >= bytes) return size;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${path} never reached ${bytes} bytes`);
}

Deno.test("discovery with mDNS, what fits, and a fetch that survives its server being killed", async () => {
  await using lan = await makeLan(3);
  const dirs: [string, string] = [`${work}/h1`, `${work}/h2`];
  for (const dir of dirs) {
    await Deno.mkdir(dir);
    for (const entry of Deno.readDirSync(seed)) {
      await Deno.copyFile(`${seed}/${entry.name}`, `${dir}/${entry.name}`);
    }
  }
  // Two seeds, sending at 40 Mbit/s each: 24 MiB take about five seconds.
  await lan.limit(1, "40mbit");
  await lan.limit(2, "40mbit");
  const servers = [
    await startServe(["--port", "8080", "--name", "seed-one", dirs[0]], { prefix: lan.exec(1) }),
    await startServe(["--port", "8080", "--name", "seed-two", dirs[1]], { prefix: lan.exec(2) }),
  ];
  try {
    const urls = [1, 2].map((h) => `http://${lan.address(h)}:8080`) as [string, string];
    await whenListed(lan, 3, urls[0]);
    await whenListed(lan, 3, urls[1]);

    const listed = await output(
      spawn([...lan.exec(3), BINARY, "peers", "--device-type", "board-a", "--wait", "3", "--json"]),
    );
    assertEquals(listed.code, 0, listed.stderr);
    const found = JSON.parse(listed.stdout);
    assertEquals(found.peers.map((p: { base: string }) => p.base).sort(), urls);
    const fitting = found.offers.filter((o: { reasons: string[] }) => o.reasons.length === 0);
    assertEquals(fitting.map((o: { artifact: { name: string } }) => o.artifact.name), [
      "release-2",
    ]);
    assertEquals(fitting[0].sha256, bigSha);
    assertEquals(fitting[0].urls.sort(), urls.map((u) => `${u}/artifacts/release-2.mender`));
    const other = found.offers.find((o: { artifact: { name: string } }) =>
      o.artifact.name === "for-other-board"
    );
    assertMatch(other.reasons[0], /board-b/);
    const text = await output(
      spawn([...lan.exec(3), BINARY, "peers", "--device-type", "board-a", "--wait", "3"]),
    );
    assertMatch(text.stdout, /seed-one/);
    assertMatch(text.stdout, /yes\s+release-2\s+release-2\.mender/);
    assertMatch(text.stdout, /no\s+for-other-board.*board-b/);
    assertMatch(text.stdout, /1 invalid/);

    // A plain DNS tool asking one server directly gets a unicast answer (RFC 6762 §6.7).
    const dig = await output(spawn([
      ...lan.exec(3),
      "dig",
      "+short",
      "+time=2",
      "+tries=2",
      "-p",
      "5353",
      `@${lan.address(1)}`,
      "_ota._tcp.local",
      "PTR",
    ]));
    assertMatch(dig.stdout, /seed-one.*\._ota\._tcp\.local\./);

    // Fetch, and kill whichever seed is sending once a quarter has arrived.
    const out = `${work}/h3`;
    await Deno.mkdir(out);
    const fetching = spawn([
      ...lan.exec(3),
      BINARY,
      "peers",
      "fetch",
      "--device-type",
      "board-a",
      "--wait",
      "3",
      "-o",
      out,
      "--progress",
      "none",
    ]);
    await grows(`${out}/.release-2.mender.part`, bigSize / 4);
    const sending = servers.findIndex((s) =>
      /"GET \/artifacts\/release-2\.mender" 200/.test(s.output())
    );
    assert(sending >= 0, "no seed logged the transfer");
    const sender = at(servers, sending);
    sender.child.kill("SIGKILL");
    await sender.stop();
    const fetched = await output(fetching);
    assertEquals(fetched.code, 0, fetched.stderr);
    assertEquals(await sha256File(`${out}/release-2.mender`), bigSha);
    const survivor = at(servers, 1 - sending).output();
    assertMatch(survivor, /"GET \/artifacts\/release-2\.mender" 206 \d+ range=[1-9]\d*-/);
    assertMatch(fetched.stderr, /resuming at byte [1-9]/);
    assertEquals([...Deno.readDirSync(out)].map((e) => e.name), ["release-2.mender"]);
  } finally {
    for (const server of servers) await server.stop();
  }
});

Deno.test("a fetch resumes from the same peer after it restarts", async () => {
  await using lan = await makeLan(2);
  const dir = `${work}/solo`;
  await Deno.mkdir(dir);
  await Deno.copyFile(big, `${dir}/release-2.mender`);
  await lan.limit(1, "40mbit");
  const url = `http://${lan.address(1)}:8080`;
  const serveArgs = ["--port", "8080", "--no-announce", "--rescan", "1", dir];
  let server = await startServe(serveArgs, { prefix: lan.exec(1) });
  let restarted: Awaited<ReturnType<typeof startServe>> | undefined;
  try {
    await whenListedOne(lan, url);
    const out = `${work}/solo-out.mender`;
    const fetching = spawn([
      ...lan.exec(2),
      BINARY,
      "peers",
      "fetch",
      "--peer",
      url,
      "--wait",
      "0",
      "--device-type",
      "board-a",
      "-o",
      out,
      "--progress",
      "none",
    ]);
    await grows(`${work}/.solo-out.mender.part`, bigSize / 4);
    server.child.kill("SIGKILL");
    await server.stop();
    restarted = await startServe(serveArgs, { prefix: lan.exec(1) });
    server = restarted;
    const fetched = await output(fetching);
    assertEquals(fetched.code, 0, fetched.stderr);
    assertEquals(await sha256File(out), bigSha);
    assertMatch(restarted.output(), /"GET \/artifacts\/release-2\.mender" 206 \d+ range=[1-9]\d*-/);
  } finally {
    await server.stop();
  }
});

async function whenListedOne(lan: Pick<Lan, "exec">, url: string) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const out = await new Deno.Command(lan.exec(2)[0], {
      args: [...lan.exec(2).slice(1), "curl", "-s", `${url}/artifacts`],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (new TextDecoder().decode(out.stdout).includes('"valid":true')) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} never listed the artifact`);
}
