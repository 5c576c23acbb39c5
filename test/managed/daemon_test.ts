/**
 * `ota daemon` (the compiled binary) on a managed test device against the contract server,
 * in the situations the oracle cannot show because 3.4 waits a minute in them: a pending
 * device, 5xx bursts with Mender's backoff, a cut download, slow answers, a final report the
 * server does not take until after a kill and a restart, a stop in the middle of a download;
 * and the control commands.
 */
import { assert, assertEquals, assertStringIncludes, at, defined } from "../helpers/assert.ts";
import { BINARY, hasCommand, run, tempDir } from "../helpers/mod.ts";
import {
  contractServer,
  type DeploymentSpec,
  type Recorded,
  type Switches,
} from "./contract_server.ts";
import {
  DEVICE_TYPE,
  type ManagedDevice,
  managedDevice,
  moduleArtifact,
  startClient,
} from "./fixture.ts";

const ready = Deno.uid() === 0 && hasCommand("mender-artifact") && hasCommand("unshare") &&
  (() => {
    try {
      return Deno.statSync(BINARY).isFile;
    } catch {
      return false;
    }
  })();

const ID = "33333333-aaaa-4bbb-8ccc-000000000001";
const FINAL = ["success", "failure", "already-installed"];

async function setup(
  dir: string,
  switches: Switches = {},
  config: Record<string, unknown> = {},
  deployments?: (device: ManagedDevice) => Promise<DeploymentSpec[]>,
) {
  const server = await contractServer({ switches });
  const device = await managedDevice(`${dir}/d`, { server, config });
  server.deployments.push(
    ...(deployments ? await deployments(device) : [{
      id: ID,
      artifactName: "app-1.0",
      deviceTypes: [DEVICE_TYPE],
      file: await moduleArtifact(device, "app-1.0"),
    }]),
  );
  return { server, device };
}

const statusOf = (r: Recorded) => (r.json as { status?: string } | undefined)?.status;
const reports = (requests: Recorded[]) =>
  requests.filter((r) => r.path.endsWith("/status")).map((r) => `${statusOf(r)} ${r.status}`);
const finished = (requests: Recorded[]) =>
  requests.some((r) =>
    r.path.endsWith("/status") && FINAL.includes(statusOf(r)!) && r.status === 204
  );
/** Milliseconds between consecutive requests. */
const gapsOf = (list: Recorded[]) => list.slice(1).map((r, i) => r.t - at(list, i).t);
const installed = (device: ManagedDevice) =>
  Deno.readTextFile(`${device.installed}/app.txt`).then((t) => t.split("\n")[0], () => "(none)");

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !ready, sanitizeResources: false, fn });

test("check-update and send-inventory act at once; SIGTERM stops; the token stays in memory", async () => {
  await using dir = await tempDir("ota-d-");
  const { server, device } = await setup(dir.path, {}, {
    UpdatePollIntervalSeconds: 3600,
    InventoryPollIntervalSeconds: 3600,
  }, () => Promise.resolve([]));
  await using _ = server;
  await using daemon = startClient(device, "ota");
  const polls = () => server.requests.filter((r) => r.path.endsWith("/next")).length;
  const inventories = () => server.requests.filter((r) => r.path.endsWith("/attributes")).length;
  await server.waitFor(() => polls() === 1 && inventories() === 1, 20_000, "the first poll");
  const data = device.clientData("ota");
  const check = await run([BINARY, "check-update", "--data", data]);
  assertEquals(check.code, 0, check.stderr);
  assertStringIncludes(check.stdout, "The daemon took check-update.");
  await server.waitFor(() => polls() === 2, 3000, "the poll check-update asked for");
  assertEquals((await run([BINARY, "send-inventory", "--data", data])).code, 0);
  await server.waitFor(() => inventories() === 2, 3000, "the inventory send-inventory asked for");

  await using second = startClient(device, "ota");
  assertEquals(await second.exited, 1);
  assertStringIncludes(second.output(), "[DAEMON_RUNNING]");

  const token = server.requests.find((r) => r.path.endsWith("auth_requests"))!.response;
  for await (const entry of Deno.readDir(data)) {
    if (!entry.isFile) continue;
    const text = await Deno.readTextFile(`${data}/${entry.name}`).catch(() => "");
    assert(!text.includes(token), `${entry.name} holds the JWT`);
  }
  assertEquals(await daemon.stop(), 0);
  const out = daemon.output();
  assertStringIncludes(out, "check-update requested: polling now");
  assertStringIncludes(out, "Daemon stopped");
  const gone = await run([BINARY, "check-update", "--data", data]);
  assertEquals(gone.code, 1);
  assertStringIncludes(gone.stderr, "[DAEMON_NOT_RUNNING]");
});

test("the inventory goes every InventoryPollIntervalSeconds, polls every UpdatePollIntervalSeconds", async () => {
  await using dir = await tempDir("ota-d-");
  const { server, device } = await setup(dir.path, {}, {
    InventoryPollIntervalSeconds: 1,
    UpdatePollIntervalSeconds: 2,
  }, () => Promise.resolve([]));
  await using _ = server;
  await using daemon = startClient(device, "ota");
  const of = (suffix: string) => server.requests.filter((r) => r.path.endsWith(suffix));
  await server.waitFor(() => of("/attributes").length >= 5, 20_000, "five inventories");
  for (const gap of gapsOf(of("/attributes"))) assert(gap >= 900 && gap < 2500, `${gap} ms`);
  for (const gap of gapsOf(of("/next"))) assert(gap >= 1900 && gap < 3500, `${gap} ms`);
  assert(of("/next").length >= 2);
  assertEquals(of("auth_requests").length, 1, "one token for all of it");
  assertEquals(await daemon.stop(), 0);
});

test("a pending device asks again each poll interval, then sends its inventory", async () => {
  await using dir = await tempDir("ota-d-");
  const { server, device } = await setup(
    dir.path,
    { pendingAuths: 2 },
    {},
    () => Promise.resolve([]),
  );
  await using _ = server;
  await using daemon = startClient(device, "ota");
  await server.waitFor(
    (rs) => rs.some((r) => r.path.endsWith("/attributes") && r.status === 200),
    20_000,
    "the inventory once accepted",
  );
  const auths = server.requests.filter((r) => r.path.endsWith("auth_requests"));
  assertEquals(auths.map((r) => r.status), [401, 401, 200]);
  for (const [i, gap] of gapsOf(auths).entries()) {
    assert(gap >= 900, `auth ${i + 2} came ${gap} ms after the one before`);
  }
  assertEquals(await daemon.stop(), 0);
});

test("a 5xx burst on polls backs off on Mender's schedule and the deployment finishes", async () => {
  await using dir = await tempDir("ota-d-");
  const { server, device } = await setup(dir.path, { fail5xx: { path: /\/next$/, count: 3 } }, {
    RetryPollIntervalSeconds: 2,
    UpdatePollIntervalSeconds: 3600,
  });
  await using _ = server;
  await using daemon = startClient(device, "ota");
  await server.waitFor(finished, 30_000, "the deployment");
  const polls = server.requests.filter((r) => r.path.endsWith("/next"));
  assertEquals(polls.map((r) => r.status), [500, 500, 500, 200]);
  for (const [i, gap] of gapsOf(polls).entries()) {
    assert(gap >= 1900 && gap < 4000, `retry ${i + 1} after ${gap} ms, the schedule says 2 s`);
  }
  assertEquals(reports(server.requests), [
    "downloading 204",
    "installing 204",
    "installing 204",
    "success 204",
  ]);
  assertEquals(await installed(device), "app-1.0");
  assertEquals(await daemon.stop(), 0);
});

test("a cut download resumes with Range; slow answers and 500s on reports are waited out", async () => {
  await using dir = await tempDir("ota-d-");
  const { server, device } = await setup(dir.path, {
    cutDownload: { afterBytes: 1000, times: 1 },
    slow: { ms: 800, path: /\/status$/ },
    fail5xx: { path: /\/status$/, reported: "installing", count: 2 },
  });
  await using _ = server;
  await using daemon = startClient(device, "ota");
  await server.waitFor(finished, 30_000, "the deployment");
  const downloads = server.requests.filter((r) => r.path.startsWith("/artifacts/"));
  assertEquals(downloads.map((r) => `${r.status} ${r.headers.range ?? ""}`), [
    "200 ",
    "206 bytes=1000-",
  ], daemon.output());
  // the report before ArtifactInstall may fail (ignored, as Mender 5); the one before the
  // commit is retried until the server takes it
  assertEquals(reports(server.requests), [
    "downloading 204",
    "installing 500",
    "installing 500",
    "installing 204",
    "success 204",
  ]);
  assertEquals(await installed(device), "app-1.0");
  assertEquals(await daemon.stop(), 0);
});

test("a final report the server refuses is kept across a SIGKILL and sent once after the restart", async () => {
  await using dir = await tempDir("ota-d-");
  const { server, device } = await setup(dir.path, {
    fail5xx: { path: /\/status$/, reported: "success", count: 1000 },
  }, { RetryPollCount: 2 });
  await using _ = server;
  const first = startClient(device, "ota");
  await server.waitFor(
    (rs) => rs.filter((r) => statusOf(r) === "success").length >= 3,
    30_000,
    "refused success reports",
  );
  first.kill("SIGKILL");
  await first.exited;
  const store = JSON.parse(await Deno.readTextFile(`${device.clientData("ota")}/ota-store.json`));
  assertEquals(store.update, undefined, "the update is over");
  assertEquals(store.report.status, "success", "its report is kept");
  assertEquals(await installed(device), "app-1.0", "the update itself is committed");
  server.switches.fail5xx = undefined;
  const before = server.requests.length;
  await using second = startClient(device, "ota");
  await server.waitFor(finished, 20_000, "the report after the restart");
  await server.waitFor(
    (rs) => rs.slice(before).some((r) => r.path.endsWith("/next")),
    20_000,
    "polling again",
  );
  const after = server.requests.slice(before);
  assertEquals(after.filter((r) => statusOf(r) === "success").map((r) => r.status), [204]);
  assertEquals(after.filter((r) => r.path.endsWith("/status")).length, 1, "nothing else re-sent");
  const inventory = after.find((r) => r.path.endsWith("/attributes"))!;
  assertStringIncludes(inventory.text, '"name":"artifact_name","value":"app-1.0"');
  assertEquals(await second.stop(), 0);
});

test("SIGTERM before the artifact's header stops at once; the next start downloads again", async () => {
  await using dir = await tempDir("ota-d-");
  const { server, device } = await setup(dir.path, {
    slow: { ms: 15_000, path: /^\/artifacts\// },
  });
  await using _ = server;
  const first = startClient(device, "ota");
  await server.waitFor(
    (rs) => rs.some((r) => r.path.startsWith("/artifacts/")),
    20_000,
    "the download",
  );
  const stopping = performance.now();
  assertEquals(await first.stop(), 0);
  const stopSeconds = (performance.now() - stopping) / 1000;
  assert(stopSeconds < 5, `the stop took ${stopSeconds.toFixed(1)} s`);
  // the artifact's header had not come: no update began, and the server offers it again
  const store = await Deno.readTextFile(`${device.clientData("ota")}/ota-store.json`)
    .then(JSON.parse, () => ({}));
  assertEquals(store.update, undefined);
  server.switches.slow = undefined;
  await using second = startClient(device, "ota");
  await server.waitFor(finished, 20_000, "the deployment after the restart");
  assertEquals(reports(server.requests), [
    "downloading 204",
    "downloading 204",
    "installing 204",
    "installing 204",
    "success 204",
  ]);
  assertEquals(await installed(device), "app-1.0");
  assertEquals(await second.stop(), 0);
});

test("the log of a failed deployment carries the module's words in Mender's JSON", async () => {
  await using dir = await tempDir("ota-d-");
  const { server, device } = await setup(dir.path, {}, {}, async (device) => [{
    id: ID,
    artifactName: "app-2.0-broken",
    deviceTypes: [DEVICE_TYPE],
    file: await moduleArtifact(device, "app-2.0-broken", { type: "ota-fail" }),
  }]);
  await using _ = server;
  await using daemon = startClient(device, "ota");
  await server.waitFor((rs) => rs.some((r) => r.path.endsWith("/log")), 30_000, "the log");
  const log = server.requests.find((r) => r.path.endsWith("/log"))!;
  const messages =
    (log.json as { messages: { level: string; message: string; timestamp: string }[] })
      .messages;
  assert(messages.some((m) => m.message.includes("ota-fail: this module always fails to install")));
  assert(messages.some((m) => m.level === "error"));
  for (const m of messages) {
    assertEquals(Object.keys(m), ["level", "message", "timestamp"]);
    assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(m.timestamp), m.timestamp);
  }
  assertEquals(reports(server.requests), ["downloading 204", "installing 204", "failure 204"]);
  assertEquals(await daemon.stop(), 0);
});

test("a deployment without a source URI fails at once, with the reason in its log", async () => {
  await using dir = await tempDir("ota-d-");
  const { server, device } = await setup(dir.path, {}, {}, (device) =>
    Promise.resolve([{
      id: ID,
      artifactName: "app-1.0",
      deviceTypes: [DEVICE_TYPE],
      file: device.installed,
      omit: ["source"],
    }]));
  await using _ = server;
  await using daemon = startClient(device, "ota");
  await server.waitFor((rs) => rs.some((r) => r.path.endsWith("/log")), 20_000, "the log");
  assertEquals(reports(server.requests), ["failure 204"]);
  const log = defined(server.requests.find((r) => r.path.endsWith("/log")));
  assertStringIncludes(log.text, "lacks artifact.source.uri");
  assertEquals(await daemon.stop(), 0);
});

test("a module that reboots its device itself: ArtifactReboot and ArtifactVerifyReboot run in it", async () => {
  await using dir = await tempDir("ota-d-");
  const { server, device } = await setup(dir.path, {}, {}, async (device) => [{
    id: ID,
    artifactName: "app-5.0",
    deviceTypes: [DEVICE_TYPE],
    file: await moduleArtifact(device, "app-5.0", { type: "ota-self-reboot" }),
  }]);
  await using _ = server;
  await using daemon = startClient(device, "ota");
  await server.waitFor(finished, 20_000, "the deployment");
  assertEquals(reports(server.requests), [
    "downloading 204",
    "installing 204",
    "rebooting 204",
    "installing 204",
    "success 204",
  ]);
  const calls = (await Deno.readTextFile(`${device.dir}/self-reboot.calls`)).trim().split("\n");
  const states = calls.filter((c) => c.startsWith("Artifact"));
  assertEquals(states, [
    "ArtifactInstall",
    "ArtifactReboot",
    "ArtifactVerifyReboot",
    "ArtifactCommit",
  ]);
  // the fixture's reboot refuses to run: the daemon never called RebootCommand
  assert(!daemon.output().includes("reboot is refused"), daemon.output());
  assertEquals(await daemon.stop(), 0);
});
