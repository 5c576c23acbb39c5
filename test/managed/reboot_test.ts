/**
 * The reboot flow of managed mode on the simulated A/B board (the real fw_setenv on a file
 * environment, the bootloader model of examples/device): `ota daemon` reports rebooting, runs
 * RebootCommand, and at the next start commits and reports success, or, after the bootloader
 * fell back, reports failure with the log. Then a SIGKILL of the daemon in each step of a
 * deployment: after the restart the device is whole and the server gets one right final
 * status. Downloads come from the contract server; the daemon is the compiled binary.
 */
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import {
  type Board,
  board,
  drive,
  exists,
  finals,
  ready,
  reports,
  statusOf,
  until,
} from "./board.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !ready, sanitizeResources: false, fn });

test("reboot flow: rebooting, RebootCommand, and after the boot the commit and success", async () => {
  const b = await board();
  await using _f = b.f;
  await using _s = b.server;
  const first = b.start();
  await until("the reboot command", () => exists(b.rebooted));
  assertEquals(reports(b.server), ["downloading 204", "installing 204", "rebooting 204"]);
  assertEquals(await first.stop(), 0, first.output());
  assertEquals((await b.f.state()).upgrade, "1");
  assertEquals((await b.f.boot()).part, 3);
  await using second = b.start();
  await b.server.waitFor(() => finals(b.server).length === 1, 30_000, "the final report");
  assertEquals(reports(b.server), [
    "downloading 204",
    "installing 204",
    "rebooting 204",
    "installing 204",
    "success 204",
  ]);
  assertEquals(await b.f.state(), { part: "3", upgrade: "0", booted: "3", artifact: "release-2" });
  await b.server.waitFor(
    (rs) => rs.some((r) => r.path.endsWith("/attributes") && r.text.includes('"release-2"')),
    10_000,
    "the inventory with the new artifact",
  );
  assertEquals(await second.stop(), 0);
});

test("reboot flow: the bootloader falls back, the daemon reports failure with the log", async () => {
  const b = await board();
  await using _f = b.f;
  await using _s = b.server;
  const first = b.start();
  await until("the reboot command", () => exists(b.rebooted));
  await Deno.remove(b.rebooted);
  assertEquals(await first.stop(), 0);
  assertEquals((await b.f.boot()).part, 3); // the new system starts, and dies before the commit
  assertEquals((await b.f.boot()).rolledBack, true);
  // ArtifactVerifyReboot fails, the rollback path reboots once more (as Mender's), then fails
  const daemon = { current: b.start() };
  try {
    await drive(
      b,
      daemon,
      () => Promise.resolve(b.server.requests.some((r) => r.path.endsWith("/log"))),
    );
  } finally {
    assertEquals(await daemon.current.stop(), 0);
  }
  assertEquals(reports(b.server), [
    "downloading 204",
    "installing 204",
    "rebooting 204",
    "failure 204",
  ]);
  const log = b.server.requests.find((r) => r.path.endsWith("/log"))!;
  assertStringIncludes(log.text, "the bootloader rolled back to the previous one");
  assertEquals(await b.f.state(), {
    part: "2",
    upgrade: "0",
    booted: "2",
    artifact: "factory-image",
  });
});

test("a 409 to rebooting aborts through the rollback path: the old system stays, no log", async () => {
  const b = await board();
  await using _f = b.f;
  await using _s = b.server;
  b.server.deployments[0]!.abort = { fromStatus: "rebooting" };
  const daemon = { current: b.start() };
  try {
    await drive(b, daemon, () => Promise.resolve(reports(b.server).includes("failure 409")));
    await new Promise((resolve) => setTimeout(resolve, 1000)); // nothing else must follow
  } finally {
    assertEquals(await daemon.current.stop(), 0);
  }
  assertEquals(reports(b.server), [
    "downloading 204",
    "installing 204",
    "rebooting 409",
    "failure 409",
  ]);
  assert(!b.server.requests.some((r) => r.path.endsWith("/log")), "no log after an abort");
  assertEquals(await b.f.state(), {
    part: "2",
    upgrade: "0",
    booted: "2",
    artifact: "factory-image",
  });
});

/** Kills the daemon at `reached`, restarts it and checks the end: one final status, a whole device. */
async function killAt(
  b: Board,
  reached: () => Promise<boolean>,
  expected: { final: "success" | "failure"; artifact: string },
  after?: () => Promise<void>,
) {
  const daemon = { current: b.start() };
  try {
    await drive(b, daemon, reached);
    daemon.current.kill("SIGKILL");
    await daemon.current.exited;
    await after?.();
    daemon.current = b.start();
    await drive(b, daemon, () => Promise.resolve(finals(b.server).length > 0));
    await new Promise((resolve) => setTimeout(resolve, 1500)); // nothing else must follow
    assertEquals(finals(b.server).map(statusOf), [expected.final], reports(b.server).join(", "));
    const state = await b.f.state();
    assertEquals(state.artifact, expected.artifact);
    assertEquals(state.upgrade, "0", "no update left pending in the bootloader");
    assertEquals(state.part, state.booted, "the running slot is the one the bootloader boots");
  } finally {
    await daemon.current.stop();
  }
}

test("SIGKILL during the download: the next start downloads again and succeeds", async () => {
  const b = await board();
  await using _f = b.f;
  await using _s = b.server;
  b.server.switches.slow = { ms: 3000, path: /^\/artifacts\// };
  await killAt(
    b,
    () => Promise.resolve(b.server.requests.some((r) => r.path.startsWith("/artifacts/"))),
    { final: "success", artifact: "release-2" },
    () => Promise.resolve(void (b.server.switches.slow = undefined)),
  );
});

test("SIGKILL during ArtifactInstall: the next start rolls back and reports failure", async () => {
  const b = await board({ scripts: ["ArtifactInstall_Enter_00"] });
  await using _f = b.f;
  await using _s = b.server;
  const dir = b.f.device.dir;
  await killAt(
    b,
    () => exists(`${dir}/ArtifactInstall_Enter_00.reached`),
    { final: "failure", artifact: "factory-image" },
    () => b.release("ArtifactInstall_Enter_00"),
  );
  assert(b.server.requests.some((r) => r.path.endsWith("/log")), "the log of the failure");
});

test("SIGKILL in the reboot command: the next start finds the old system and rolls back", async () => {
  const b = await board();
  await using _f = b.f;
  await using _s = b.server;
  const dir = b.f.device.dir;
  // the first reboot hangs (the kill comes then) and never happens; the next one goes through
  const config = JSON.parse(await Deno.readTextFile(b.f.device.config));
  await Deno.writeTextFile(
    `${dir}/bin/reboot-hang`,
    `#!/bin/sh
if [ -e "${dir}/reboot.reached" ]; then touch "${b.rebooted}"; exit 0; fi
touch "${dir}/reboot.reached"
while [ ! -e "${dir}/reboot.release" ]; do sleep 0.1; done
exit 1
`,
    { mode: 0o755 },
  );
  await Deno.writeTextFile(
    b.f.device.config,
    JSON.stringify({ ...config, RebootCommand: `${dir}/bin/reboot-hang` }),
  );
  // the restart is no boot: ArtifactVerifyReboot finds the old system (Mender's rule)
  await killAt(
    b,
    () => exists(`${dir}/reboot.reached`),
    { final: "failure", artifact: "factory-image" },
    () => b.release("reboot"),
  );
});

test("SIGKILL during ArtifactCommit: the next start finishes the commit", async () => {
  const b = await board({ scripts: ["ArtifactCommit_Enter_00"] });
  await using _f = b.f;
  await using _s = b.server;
  const dir = b.f.device.dir;
  await killAt(
    b,
    () => exists(`${dir}/ArtifactCommit_Enter_00.reached`),
    { final: "success", artifact: "release-2" },
    () => b.release("ArtifactCommit_Enter_00"),
  );
});
