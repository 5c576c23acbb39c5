/**
 * The machine with the real state script runner: scripts that the artifact brings and the
 * root filesystem's, run in name order; exit 21 retries within StateScriptRetryTimeoutSeconds;
 * the first failing script stops the rest of its state and takes the error path, while in
 * the rollback states failures are only logged; and the daemon's Idle and Sync scripts.
 */
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { OtaError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import type { Engine } from "../../src/update/context.ts";
import { idle, sync } from "../../src/update/idle_sync.ts";
import { scriptRunner } from "../../src/update/scripts.ts";
import { commit, install } from "../../src/update/standalone.ts";
import { type Kit, kit } from "./machine_kit.ts";

const timing = { StateScriptRetryIntervalSeconds: 1, StateScriptRetryTimeoutSeconds: 3 };
const quiet = { write: () => true } as unknown as NodeJS.WriteStream;

/** A script that writes its name to the order file, then exits as `then` says. */
const script = (k: Kit, then = "exit 0") =>
  `#!/bin/sh\necho "$(basename "$0")" >> ${k.dir}/order\n${then}\n`;

/** Exits 21 ("retry later") the first `times` runs, then 0. */
const retrying = (k: Kit, times: number) =>
  script(
    k,
    `n=$(cat ${k.dir}/count 2>/dev/null || echo 0); echo $((n+1)) > ${k.dir}/count\n` +
      `[ "$n" -ge ${times} ] && exit 0\nexit 21`,
  );

function realScripts(k: Kit, spec = { needsReboot: "Automatic" as const, supportsRollback: true }) {
  const engine = k.engine({ spec });
  return { ...engine, scripts: scriptRunner(k.config, k.dir, createLogger("error", quiet)) };
}

async function rootfsScripts(k: Kit, scripts: Record<string, string>) {
  await Deno.mkdir(`${k.dir}/rootfs-scripts`, { recursive: true });
  for (const [name, text] of Object.entries(scripts)) {
    await Deno.writeTextFile(`${k.dir}/rootfs-scripts/${name}`, text, { mode: 0o755 });
  }
}

const order = async (k: Kit) => (await Deno.readTextFile(`${k.dir}/order`)).trim().split("\n");

Deno.test("real scripts: exit 21 runs the script again until it succeeds", async () => {
  await using k = await kit(timing);
  await rootfsScripts(k, { Download_Enter_00: script(k), Download_Leave_00: script(k) });
  const artifact = await k.artifact("release-2", {
    scripts: {
      ArtifactInstall_Enter_00: retrying(k, 2),
      ArtifactInstall_Leave_00: script(k),
      ArtifactReboot_Enter_00: script(k),
    },
  });
  const started = Date.now();
  const outcome = await install(realScripts(k), artifact);
  assertEquals(outcome.exitCode, 0);
  assert(Date.now() - started >= 2000, "two retries, one second apart");
  assertEquals(await order(k), [
    "Download_Enter_00",
    "Download_Leave_00",
    "ArtifactInstall_Enter_00",
    "ArtifactInstall_Enter_00",
    "ArtifactInstall_Enter_00",
    "ArtifactInstall_Leave_00",
  ]);
});

Deno.test("real scripts: exit 21 past the retry timeout fails the state: rolled back", async () => {
  await using k = await kit(timing);
  const artifact = await k.artifact("release-2", {
    scripts: {
      ArtifactInstall_Enter_00: retrying(k, 100),
      ArtifactInstall_Error_00: script(k),
      ArtifactRollback_Enter_00: script(k),
      ArtifactFailure_Leave_00: script(k),
    },
  });
  const error = await assertRejects(() => install(realScripts(k), artifact));
  assert(error instanceof OtaError && error.code === "SCRIPT_TIMEOUT", String(error));
  const ran = await order(k);
  assert(ran.filter((name) => name === "ArtifactInstall_Enter_00").length >= 2, ran.join());
  assertEquals(ran.filter((name) => name !== "ArtifactInstall_Enter_00"), [
    "ArtifactInstall_Error_00",
    "ArtifactRollback_Enter_00",
    "ArtifactFailure_Leave_00",
  ]);
});

Deno.test("real scripts: the first failing script stops its state; rollback scripts all run", async () => {
  await using k = await kit(timing);
  const artifact = await k.artifact("release-2", {
    scripts: {
      ArtifactCommit_Enter_00: script(k),
      ArtifactCommit_Enter_10_fails: script(k, "exit 3"),
      ArtifactCommit_Enter_20: script(k),
      ArtifactCommit_Error_00: script(k),
      ArtifactRollback_Enter_00_fails: script(k, "exit 1"),
      ArtifactRollback_Enter_10: script(k),
      ArtifactRollback_Leave_00: script(k),
      ArtifactFailure_Enter_00: script(k),
    },
  });
  assertEquals((await install(realScripts(k), artifact)).exitCode, 0);
  const error = await assertRejects(() => commit(realScripts(k)));
  assert(error instanceof OtaError && error.code === "SCRIPT_FAILED", String(error));
  assertEquals(await order(k), [
    "ArtifactCommit_Enter_00",
    "ArtifactCommit_Enter_10_fails",
    "ArtifactCommit_Error_00",
    "ArtifactRollback_Enter_00_fails",
    "ArtifactRollback_Enter_10",
    "ArtifactRollback_Leave_00",
    "ArtifactFailure_Enter_00",
  ]);
});

Deno.test("Idle and Sync scripts: a failing Idle script is logged; a failing Sync_Enter skips the work", async () => {
  await using k = await kit(timing);
  await rootfsScripts(k, {
    Idle_Enter_00: script(k, "exit 1"),
    Idle_Leave_00: script(k),
    Sync_Enter_00: script(k),
    Sync_Leave_00: script(k),
    Sync_Error_00: script(k),
  });
  const engine: Engine = realScripts(k);
  assertEquals(await idle(engine, () => Promise.resolve("polled")), "polled");
  assertEquals(await sync(engine, () => Promise.resolve(7)), 7);
  await assertRejects(() => sync(engine, () => Promise.reject(new Error("server down"))));
  await Deno.writeTextFile(`${k.dir}/rootfs-scripts/Sync_Enter_00`, script(k, "exit 1"));
  let worked = false;
  await assertRejects(() => sync(engine, () => Promise.resolve(worked = true)));
  assertEquals(worked, false);
  assertEquals(await order(k), [
    "Idle_Enter_00",
    "Idle_Leave_00",
    "Sync_Enter_00",
    "Sync_Leave_00",
    "Sync_Enter_00",
    "Sync_Error_00",
    "Sync_Enter_00",
    "Sync_Error_00",
  ]);
});
