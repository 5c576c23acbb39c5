/**
 * SIGTERM on the update machine, on the simulated A/B board: a download stops at once (and
 * the deployment then ends as an interrupted download ends in Mender 5: cleaned up, failed);
 * any other state's action runs to its end and the update waits at the next pause, where the
 * next start continues it; a reboot the machine reached goes ahead; a report retried during
 * an outage stops at once and is sent after the start.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  assertWhole,
  type Board,
  board,
  drive,
  exists,
  finals,
  ready,
  reports,
  until,
} from "./board.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !ready, sanitizeResources: false, fn });

const recorded = async (b: Board) =>
  JSON.parse(await Deno.readTextFile(`${b.f.device.data}/ota-store.json`).catch(() => "{}"));

/** Starts the daemon again until the deployment's final report arrived. */
async function finish(b: Board) {
  const daemon = { current: b.start() };
  try {
    await drive(b, daemon, () => Promise.resolve(finals(b.server).length > 0));
    await new Promise((resolve) => setTimeout(resolve, 1000)); // nothing else must follow
  } finally {
    assertEquals(await daemon.current.stop(), 0);
  }
}

test("SIGTERM during the download stops at once; the interrupted download is failed once", async () => {
  const b = await board();
  await using _f = b.f;
  await using _s = b.server;
  const size = (await Deno.stat(b.server.deployments[0]!.file!)).size;
  b.server.switches.stallDownload = { afterBytes: Math.floor(size / 2) };
  const first = b.start();
  await until("the download under way", async () => (await recorded(b)).update !== undefined);
  const stopping = performance.now();
  assertEquals(await first.stop(), 0, first.output());
  const seconds = (performance.now() - stopping) / 1000;
  assert(seconds < 5, `the stop took ${seconds.toFixed(1)} s`);
  assertEquals((await recorded(b)).report?.status, "failure", "the end is recorded, not sent");
  b.server.switches.stallDownload = undefined;
  await finish(b);
  assertEquals(reports(b.server), ["downloading 204", "failure 204"]);
  await assertWhole(b, "factory-image");
});

test("SIGTERM during ArtifactInstall: the install ends, the reboot it reached goes ahead", async () => {
  const b = await board({ scripts: ["ArtifactInstall_Enter_00"] });
  await using _f = b.f;
  await using _s = b.server;
  const dir = b.f.device.dir;
  const first = b.start();
  await until("ArtifactInstall", () => exists(`${dir}/ArtifactInstall_Enter_00.reached`));
  const stopped = first.stop();
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert(!await exists(b.rebooted), "nothing happens before the step ends");
  await b.release("ArtifactInstall_Enter_00");
  assertEquals(await stopped, 0, first.output());
  assert(await exists(b.rebooted), "the reboot command ran");
  assertEquals(reports(b.server), ["downloading 204", "installing 204", "rebooting 204"]);
  await Deno.remove(b.rebooted);
  await b.f.boot();
  await finish(b);
  assertEquals(reports(b.server).slice(3), ["installing 204", "success 204"]);
  await assertWhole(b, "release-2");
});

test("SIGTERM after the reboot, while it is verified: the update waits before the commit", async () => {
  const b = await board({ scripts: ["ArtifactReboot_Leave_00"] });
  await using _f = b.f;
  await using _s = b.server;
  const dir = b.f.device.dir;
  const first = b.start();
  await until("the reboot command", () => exists(b.rebooted));
  await Deno.remove(b.rebooted);
  assertEquals(await first.stop(), 0);
  await b.f.boot();
  const second = b.start();
  await until("ArtifactReboot_Leave", () => exists(`${dir}/ArtifactReboot_Leave_00.reached`));
  const stopped = second.stop();
  await b.release("ArtifactReboot_Leave_00");
  assertEquals(await stopped, 0, second.output());
  assertEquals((await recorded(b)).update?.state, "Before_ArtifactCommit_Enter");
  assertEquals(reports(b.server), ["downloading 204", "installing 204", "rebooting 204"]);
  await finish(b);
  assertEquals(reports(b.server).slice(3), ["installing 204", "success 204"]);
  await assertWhole(b, "release-2");
});

test("SIGTERM while the report before the commit is retried stops at once; the start commits", async () => {
  const b = await board();
  await using _f = b.f;
  await using _s = b.server;
  const first = b.start();
  await until("the reboot command", () => exists(b.rebooted));
  await Deno.remove(b.rebooted);
  assertEquals(await first.stop(), 0);
  await b.f.boot();
  b.server.switches.fail5xx = { path: /\/status$/, reported: "installing", count: 1000 };
  const second = b.start();
  await b.server.waitFor(
    (rs) => rs.filter((r) => r.status === 500).length >= 2,
    20_000,
    "refused reports",
  );
  const stopping = performance.now();
  assertEquals(await second.stop(), 0, second.output());
  assert(performance.now() - stopping < 5000, "the stop waits for no retry");
  assertEquals((await recorded(b)).update?.state, "Before_ArtifactCommit_Enter");
  b.server.switches.fail5xx = undefined;
  await finish(b);
  assertEquals(reports(b.server).filter((r) => !r.endsWith("500")), [
    "downloading 204",
    "installing 204",
    "rebooting 204",
    "installing 204",
    "success 204",
  ]);
  await assertWhole(b, "release-2");
});
