/**
 * --stop-before through the compiled binary on the simulated U-Boot device, as `ota` and as
 * `mender-update` (a symlink): every state mender-update 5 (Mender 4.x) stops before, the
 * option repeated, on install, resume, commit and rollback. The artifact's state scripts log
 * their names: the stopped and resumed update runs exactly the scripts, in exactly the order,
 * of one that never stopped, and the bootloader changes only when the state that changes it
 * runs.
 */
import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { BINARY, run } from "../helpers/mod.ts";
import { type Fixture, fixture } from "./fixture.ts";

const states = ["ArtifactInstall", "ArtifactCommit", "ArtifactRollback", "ArtifactFailure"];

/** An artifact whose scripts log their names; ArtifactInstall_Enter fails when told. */
async function loggedArtifact(f: Fixture, name: string, failInstall = false): Promise<string> {
  const scripts = `${f.dir}/scripts-${name}`;
  await Deno.mkdir(scripts, { recursive: true });
  const extra: string[] = [];
  for (const state of states) {
    for (const action of ["Enter", "Leave", "Error"]) {
      const script = `${scripts}/${state}_${action}_00`;
      const fail = failInstall && state === "ArtifactInstall" && action === "Enter"
        ? "exit 1\n"
        : "";
      const text = `#!/bin/sh\necho "$(basename "$0")" >> ${f.dir}/order.log\n${fail}exit 0\n`;
      await Deno.writeTextFile(script, text, { mode: 0o755 });
      extra.push("-s", script);
    }
  }
  return await f.rootfsArtifact(name, { extra });
}

async function order(f: Fixture): Promise<string[]> {
  const text = await Deno.readTextFile(`${f.dir}/order.log`).catch(() => "");
  return text.split("\n").filter((line) => line !== "");
}

/** `mender-update <command> [args]` on the fixture's device, global options first. */
async function menderUpdate(f: Fixture, ...args: string[]) {
  const link = `${f.dir}/mender-update`;
  await Deno.symlink(BINARY, link).catch(() => {});
  const [command, ...rest] = args;
  return await run([link, "-c", f.device.config, "-d", f.device.data, command!, ...rest]);
}

/** The scripts of the same update run without a stop, on a fresh device. */
async function unstopped(steps: (f: Fixture, artifact: string) => Promise<void>, fail = false) {
  await using f = await fixture();
  await steps(f, await loggedArtifact(f, "release-2", fail));
  return await order(f);
}

Deno.test("mender-update: install, resume, commit and resume again, stopped before each state", async () => {
  await using f = await fixture();
  const artifact = await loggedArtifact(f, "release-2");
  const stop = await menderUpdate(
    f,
    "install",
    "--stop-before",
    "ArtifactInstall_Enter",
    "--stop-before",
    "ArtifactCommit_Leave",
    artifact,
  );
  assertEquals(stop.code, 0, stop.stderr);
  assertStringIncludes(stop.stdout, "Stopped before ArtifactInstall_Enter.");
  assertEquals((await f.env()).upgrade_available, "0", "nothing switched before the install");
  assertEquals(await order(f), []);

  const installed = await menderUpdate(f, "resume");
  assertEquals(installed.code, 0, installed.stderr);
  assertStringIncludes(installed.stdout, "Installed, but not committed.");
  assertEquals((await f.env()).upgrade_available, "1");
  await f.boot();

  const committed = await menderUpdate(f, "commit", "--stop-before", "ArtifactCommit_Leave");
  assertEquals(committed.code, 0, committed.stderr);
  assertEquals(committed.stdout.trim().split("\n"), [
    "Committed.",
    "Stopped before ArtifactCommit_Leave. Use 'resume' to continue.",
  ]);
  assertEquals((await f.state()).artifact, "release-2");
  assertEquals((await f.env()).upgrade_available, "0");
  const rollback = await menderUpdate(f, "rollback");
  assertEquals(rollback.code, 1);
  assertStringIncludes(rollback.stderr, "[ROLLBACK_IMPOSSIBLE]");

  const leave = await menderUpdate(f, "resume", "--stop-before", "Cleanup");
  assertEquals(leave.code, 0, leave.stderr);
  assertStringIncludes(leave.stdout, "Stopped before Cleanup.");
  const again = await menderUpdate(f, "resume", "--stop-before", "Cleanup");
  assertStringIncludes(again.stdout, "Stopped before Cleanup.", "a second stop is a no-op");
  const cleaned = await menderUpdate(f, "resume");
  assertEquals([cleaned.code, cleaned.stdout.trim()], [0, "Cleaned up."]);
  assertEquals((await menderUpdate(f, "resume")).code, 2, "nothing is left in progress");

  const scripts = ["ArtifactInstall_Enter", "ArtifactInstall_Leave", "ArtifactCommit_Enter"];
  assertEquals(await order(f), [...scripts, "ArtifactCommit_Leave"].map((s) => `${s}_00`));
  assertEquals(
    await order(f),
    await unstopped(async (g, a) => {
      assertEquals((await g.ota("install", a)).code, 0);
      await g.boot();
      assertEquals((await g.ota("commit")).code, 0);
    }),
  );
});

Deno.test("ota rollback --stop-before ArtifactRollback_Enter: the old slot is kept until resume", async () => {
  await using f = await fixture();
  assertEquals((await f.ota("install", await loggedArtifact(f, "release-2"))).code, 0);
  const stop = await f.ota("rollback", "--stop-before", "ArtifactRollback");
  assertEquals(stop.code, 0, stop.stderr);
  assertStringIncludes(stop.stdout, "Stopped before ArtifactRollback_Enter.");
  assertEquals((await f.env()).upgrade_available, "1", "the rollback did not run yet");
  const other = await f.ota("install", await f.rootfsArtifact("release-3"));
  assertEquals(other.code, 1);
  assertStringIncludes(other.stderr, "[UPDATE_IN_PROGRESS]");
  const resumed = await f.ota("resume");
  assertEquals([resumed.code, resumed.stdout.trim()], [0, "Rolled back."]);
  assertEquals(await f.state(), {
    part: "2",
    upgrade: "0",
    booted: "2",
    artifact: "factory-image",
  });
  assertEquals(
    await order(f),
    await unstopped(async (g, a) => {
      assertEquals((await g.ota("install", a)).code, 0);
      assertEquals((await g.ota("rollback")).code, 0);
    }),
  );
});

Deno.test("mender-update: a failed install stops before the rollback and before ArtifactFailure", async () => {
  await using f = await fixture();
  const artifact = await loggedArtifact(f, "release-2", true);
  const failed = await menderUpdate(
    f,
    "install",
    "--stop-before",
    "ArtifactRollback_Enter",
    "--stop-before",
    "ArtifactFailure_Enter",
    artifact,
  );
  assertEquals(failed.code, 1);
  assertStringIncludes(failed.stderr, "stopped before ArtifactRollback_Enter: 'resume' continues");
  const rolledBack = await menderUpdate(f, "resume", "--stop-before", "ArtifactFailure_Enter");
  assertEquals(rolledBack.code, 0, rolledBack.stderr);
  assertStringIncludes(rolledBack.stdout, "Stopped before ArtifactFailure_Enter.");
  assertEquals((await order(f)).at(-1), "ArtifactRollback_Leave_00");
  const done = await menderUpdate(f, "resume");
  assertEquals(done.code, 1);
  assertStringIncludes(done.stderr, "the update was rolled back");
  assertEquals(await f.state(), {
    part: "2",
    upgrade: "0",
    booted: "2",
    artifact: "factory-image",
  });
  assertEquals(
    await order(f),
    await unstopped(async (g, a) => assertEquals((await g.ota("install", a)).code, 1), true),
  );
});

Deno.test("--stop-before takes only mender-update 5's states, and says which", async () => {
  await using f = await fixture();
  for (const bad of ["ArtifactInstall_Leave", "Download_Enter", "ArtifactCommit_Error"]) {
    const result = await menderUpdate(f, "install", "--stop-before", bad, "x.mender");
    assertEquals(result.code, 1, bad);
    assertStringIncludes(result.stderr, "ArtifactInstall_Enter, ArtifactReboot_Enter");
  }
});
