/**
 * A server that answers 500 to every device API call for a while, then recovers: `ota daemon`
 * backs off on Mender's schedule (one minute three times, then doubling up to
 * RetryPollIntervalSeconds) and finishes the deployment. The short variant runs in CI with
 * the schedule's unit scaled from a minute to a second (OTA_TEST_BACKOFF_UNIT_MS, a test hook
 * of src/managed/backoff.ts); OTA_LONG_TESTS=1 adds the same in real minutes.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { BINARY, hasCommand, tempDir } from "../helpers/mod.ts";
import { contractServer, type Recorded } from "./contract_server.ts";
import { DEVICE_TYPE, managedDevice, moduleArtifact, startClient } from "./fixture.ts";

const ready = Deno.uid() === 0 && hasCommand("mender-artifact") && hasCommand("unshare") &&
  (() => {
    try {
      return Deno.statSync(BINARY).isFile;
    } catch {
      return false;
    }
  })();

const statusOf = (r: Recorded) => (r.json as { status?: string } | undefined)?.status;

interface Outage {
  /** What stands for Mender's minute. */
  unitMs: number;
  retryPollIntervalSeconds: number;
  outageMs: number;
  /** The gaps between polls, in units. */
  gaps: number[];
}

async function outage(o: Outage) {
  await using dir = await tempDir("ota-outage-");
  const server = await contractServer({
    switches: { fail5xx: { path: /deployments|inventory/, untilMs: Number.MAX_SAFE_INTEGER } },
  });
  await using _ = server;
  const device = await managedDevice(`${dir.path}/d`, {
    server,
    config: {
      RetryPollIntervalSeconds: o.retryPollIntervalSeconds,
      UpdatePollIntervalSeconds: 1800,
    },
  });
  server.deployments.push({
    id: "55555555-aaaa-4bbb-8ccc-000000000001",
    artifactName: "app-1.0",
    deviceTypes: [DEVICE_TYPE],
    file: await moduleArtifact(device, "app-1.0"),
  });
  const env: Record<string, string> = o.unitMs === 60_000
    ? {}
    : { OTA_TEST_BACKOFF_UNIT_MS: String(o.unitMs) };
  await using daemon = startClient(device, "ota", { env });
  const recover = setTimeout(() => (server.switches.fail5xx = undefined), o.outageMs);
  try {
    await server.waitFor(
      (rs) => rs.some((r) => statusOf(r) === "success" && r.status === 204),
      o.outageMs + 60 * o.unitMs,
      "the deployment after the outage",
    );
  } finally {
    clearTimeout(recover);
  }
  const polls = server.requests.filter((r) => r.path.endsWith("/next"));
  const gaps = polls.slice(1).map((r, i) => (r.t - polls[i]!.t) / o.unitMs);
  const shown = gaps.map((g) => g.toFixed(2)).join(" ");
  assertEquals(polls.map((r) => r.status), [...o.gaps.map(() => 500), 200], shown);
  for (const [i, expected] of o.gaps.entries()) {
    const gap = gaps[i]!;
    assert(Math.abs(gap - expected) <= 0.15 * expected + 0.05, `gaps ${shown}: try ${i + 2}`);
  }
  const inventories = server.requests.filter((r) => r.path.endsWith("/attributes"));
  assertEquals(inventories.at(-1)?.status, 200, "the inventory went too, once the server was back");
  assertEquals(await daemon.stop(), 0);
}

Deno.test({
  name: "500s for 8.5 s, a minute scaled to a second: the daemon backs off 1, 1, 1, 2, 2, 2 s",
  ignore: !ready,
  sanitizeResources: false,
  fn: () =>
    outage({ unitMs: 1000, retryPollIntervalSeconds: 4, outageMs: 8500, gaps: [1, 1, 1, 2, 2, 2] }),
});

Deno.test({
  name: "a server answering 500 for four minutes: the daemon backs off 1, 1, 1, 2 min and finishes",
  // real minutes (Mender's schedule starts at one): OTA_LONG_TESTS=1 runs it
  ignore: !ready || !Deno.env.get("OTA_LONG_TESTS"),
  sanitizeResources: false,
  fn: () =>
    outage({
      unitMs: 60_000,
      retryPollIntervalSeconds: 240,
      outageMs: 240_000,
      gaps: [1, 1, 1, 2],
    }),
});
