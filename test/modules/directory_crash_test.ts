/**
 * The directory module survives a kill at every step boundary: the compiled binary runs
 * a state with OTA_MODULE_CRASH_AFTER_STEP=N (it SIGKILLs itself after step N), then the
 * recovery state runs, and the target must hold exactly the old or exactly the new tree,
 * with no staging names left beside it.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { ota, type RunResult, sh } from "../helpers/mod.ts";
import { buildTree, snapshot, swapLeftovers, type TreeSpec } from "./tree_snapshot.ts";

const OLD: TreeSpec = {
  "a.txt": "old a\n",
  "only-old.txt": "gone after the update\n",
  "bin/tool": { content: "#!/bin/sh\necho old\n", mode: 0o750 },
  "etc/link": { link: "../a.txt" },
  "empty": { dir: true, mode: 0o700 },
};
const NEW: TreeSpec = {
  "a.txt": "new a\n",
  "only-new.txt": "arrived with the update\n",
  "bin/tool": { content: "#!/bin/sh\necho new\n", mode: 0o755 },
  "etc/link": { link: "../only-new.txt" },
  "deep/er/file": "x".repeat(70_000),
};

const work = await Deno.makeTempDir({ prefix: "ota-dir-crash-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
await buildTree(`${work}/src-old`, OLD);
await buildTree(`${work}/src-new`, NEW);
await sh(["tar", "-cf", `${work}/update.tar`, "-C", `${work}/src-new`, "."]);
const oldPicture = (await snapshot(`${work}/src-old`))!;
const newPicture = (await snapshot(`${work}/src-new`))!;

let cases = 0;

/** A fresh target (with the old tree unless `withOld` is false) and a fresh file tree. */
async function setup(withOld = true) {
  const root = `${work}/case-${++cases}`;
  const target = `${root}/opt/app`;
  const tree = `${root}/tree`;
  await Deno.mkdir(`${root}/opt`, { recursive: true });
  if (withOld) await sh(["cp", "-a", `${work}/src-old`, target]);
  for (const sub of ["header", "files", "tmp"]) {
    await Deno.mkdir(`${tree}/${sub}`, { recursive: true });
  }
  await Deno.writeTextFile(`${tree}/version`, "3\n");
  await Deno.writeTextFile(`${tree}/header/payload_type`, "directory");
  await Deno.writeTextFile(`${tree}/header/meta-data`, "");
  await Deno.copyFile(`${work}/update.tar`, `${tree}/files/update.tar`);
  await Deno.writeTextFile(`${tree}/files/dest_dir`, `${target}\n`);
  return { target, tree };
}

function module(state: string, tree: string, crashAfter?: number): Promise<RunResult> {
  const env: Record<string, string> = { OTA_MODULE_TRACE_STEPS: "1" };
  if (crashAfter !== undefined) env.OTA_MODULE_CRASH_AFTER_STEP = String(crashAfter);
  return ota(["module", "directory", state, tree], { cwd: tree, env });
}

async function mustPass(state: string, tree: string) {
  const result = await module(state, tree);
  assertEquals(result.code, 0, `${state} failed: ${result.stderr}`);
}

/** Runs `state` killed after step n; returns false when the state finished before step n. */
async function crash(state: string, tree: string, n: number): Promise<boolean> {
  const result = await module(state, tree, n);
  if (result.code === 0) return false;
  assertEquals(
    result.code,
    137,
    `${state} should die of SIGKILL after step ${n}: ${result.stderr}`,
  );
  return true;
}

function stepsOf(result: RunResult): number {
  return result.stderr.split("\n").filter((line) => /^step \d+: /.test(line)).length;
}

async function countSteps(state: "ArtifactInstall" | "ArtifactRollback" | "Cleanup") {
  const { tree } = await setup();
  if (state !== "ArtifactInstall") await mustPass("ArtifactInstall", tree);
  if (state === "Cleanup") await mustPass("ArtifactCommit", tree);
  const result = await module(state, tree);
  assertEquals(result.code, 0, result.stderr);
  return stepsOf(result);
}

async function expectTree(target: string, picture: string[] | undefined, why: string) {
  assertEquals(await snapshot(target), picture, why);
  assertEquals(await swapLeftovers(target), [], `${why}: names left beside the target`);
}

/** Right after a kill the target is the old tree, the new tree, or briefly absent. */
async function neverMixed(target: string, why: string) {
  const now = await snapshot(target);
  const same = (p?: string[]) => JSON.stringify(now) === JSON.stringify(p);
  assert(same(oldPicture) || same(newPicture) || now === undefined, `${why}: target is a mix`);
}

const installSteps = await countSteps("ArtifactInstall");
const rollbackSteps = await countSteps("ArtifactRollback");
const cleanupSteps = await countSteps("Cleanup");

Deno.test("directory: the step counts cover the whole swap", () => {
  assert(installSteps >= 7, `install has ${installSteps} steps`);
  assert(rollbackSteps >= 3, `rollback has ${rollbackSteps} steps`);
  assert(cleanupSteps >= 2, `cleanup has ${cleanupSteps} steps`);
});

Deno.test("directory: install, commit and cleanup give exactly the new tree", async () => {
  const { target, tree } = await setup();
  await mustPass("ArtifactInstall", tree);
  assertEquals(await snapshot(target), newPicture);
  await mustPass("ArtifactCommit", tree);
  await mustPass("Cleanup", tree);
  await expectTree(target, newPicture, "after cleanup");
});

Deno.test("directory: install then rollback gives exactly the old tree", async () => {
  const { target, tree } = await setup();
  await mustPass("ArtifactInstall", tree);
  await mustPass("ArtifactRollback", tree);
  await mustPass("ArtifactFailure", tree);
  await mustPass("Cleanup", tree);
  await expectTree(target, oldPicture, "after rollback");
});

for (
  const [recovery, expected] of [
    ["ArtifactRollback", "old"],
    ["ArtifactInstall", "new"],
    ["Cleanup", "old"],
  ] as const
) {
  Deno.test(`directory: install killed at every step, then ${recovery} gives the ${expected} tree`, async () => {
    for (let n = 1; n <= installSteps; n++) {
      const { target, tree } = await setup();
      assert(await crash("ArtifactInstall", tree, n), `install ended before step ${n}`);
      await neverMixed(target, `install killed after step ${n}`);
      await mustPass(recovery, tree);
      if (recovery === "ArtifactInstall") {
        // The old tree stays aside until the deployment ends.
        assertEquals(await snapshot(target), newPicture, `kill after ${n}`);
        await mustPass("ArtifactCommit", tree);
        await mustPass("Cleanup", tree);
      }
      await expectTree(target, expected === "old" ? oldPicture : newPicture, `kill after ${n}`);
    }
  });
}

Deno.test("directory: with no target before, a killed install rolls back to no target", async () => {
  for (let n = 1; n <= installSteps; n++) {
    const { target, tree } = await setup(false);
    if (!(await crash("ArtifactInstall", tree, n))) break; // fewer steps without an old tree
    await mustPass("ArtifactRollback", tree);
    await expectTree(target, undefined, `kill after ${n}`);
    await mustPass("ArtifactInstall", tree);
    await mustPass("ArtifactCommit", tree);
    await mustPass("Cleanup", tree);
    await expectTree(target, newPicture, `install again after kill ${n}`);
  }
});

Deno.test("directory: rollback killed at every step, run again, gives the old tree", async () => {
  for (let n = 1; n <= rollbackSteps; n++) {
    const { target, tree } = await setup();
    await mustPass("ArtifactInstall", tree);
    assert(await crash("ArtifactRollback", tree, n), `rollback ended before step ${n}`);
    await neverMixed(target, `rollback killed after step ${n}`);
    await mustPass("ArtifactRollback", tree);
    await mustPass("Cleanup", tree);
    await expectTree(target, oldPicture, `rollback kill after ${n}`);
  }
});

Deno.test("directory: a kill in install and then in rollback still ends on the old tree", async () => {
  for (let n = 1; n <= installSteps; n++) {
    for (let m = 1; m <= rollbackSteps; m++) {
      const { target, tree } = await setup();
      await crash("ArtifactInstall", tree, n);
      if (!(await crash("ArtifactRollback", tree, m))) break;
      await mustPass("ArtifactRollback", tree);
      await expectTree(target, oldPicture, `install kill ${n}, rollback kill ${m}`);
    }
  }
});

Deno.test("directory: cleanup after commit killed at every step keeps the new tree", async () => {
  for (let n = 1; n <= cleanupSteps; n++) {
    const { target, tree } = await setup();
    await mustPass("ArtifactInstall", tree);
    await mustPass("ArtifactCommit", tree);
    assert(await crash("Cleanup", tree, n), `cleanup ended before step ${n}`);
    assertEquals(await snapshot(target), newPicture);
    await mustPass("Cleanup", tree);
    await expectTree(target, newPicture, `cleanup kill after ${n}`);
  }
});

Deno.test("directory: a kill during commit, then rollback, gives the old tree", async () => {
  const { target, tree } = await setup();
  await mustPass("ArtifactInstall", tree);
  assert(await crash("ArtifactCommit", tree, 1));
  await mustPass("ArtifactRollback", tree);
  await expectTree(target, oldPicture, "rollback after a killed commit");
});

Deno.test("directory: queries, unknown states and refused destinations", async () => {
  const { tree } = await setup();
  assertEquals((await module("NeedsArtifactReboot", tree)).stdout, "No\n");
  assertEquals((await module("SupportsRollback", tree)).stdout, "Yes\n");
  const unknown = await module("SomeFutureState", tree);
  assertEquals([unknown.code, unknown.stdout], [0, ""]);
  for (const dest of ["/", "relative/dir", "/opt/../etc", ""]) {
    await Deno.writeTextFile(`${tree}/files/dest_dir`, `${dest}\n`);
    const result = await module("ArtifactInstall", tree);
    assertEquals(result.code, 1, `dest_dir ${JSON.stringify(dest)} must be refused`);
    assert(/DIRECTORY_DEST/.test(result.stderr), result.stderr);
  }
});
