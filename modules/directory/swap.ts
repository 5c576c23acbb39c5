/**
 * The directory swap: the new tree is unpacked next to the target (same filesystem), then
 * two renames put it in place, the old tree kept aside for rollback. Every step is
 * preceded by a journal entry, and recovery reads the journal plus which of the names
 * exist, so a kill between any two steps ends, after ArtifactInstall, ArtifactRollback or
 * Cleanup runs again, with the target holding exactly the old or exactly the new tree.
 *
 *   install:  journal staging -> unpack into .NAME.ota-new -> sync -> journal staged
 *             -> rename NAME -> .NAME.ota-old -> rename .NAME.ota-new -> NAME -> sync
 *             -> journal installed
 *   back:     [NAME -> .NAME.ota-discard] -> .NAME.ota-old -> NAME -> remove the rest
 *             -> journal rolled-back
 *   finalize: (committed) .NAME.ota-old -> .NAME.ota-discard -> remove it
 *
 * Between the two renames of install (and of back) the target name is briefly absent:
 * node has no renameat2(RENAME_EXCHANGE). A reader then sees no directory, never a mix.
 */
import { promises as fs } from "node:fs";
import { fail } from "../../src/errors.ts";
import { exists, removeTree, syncDir, syncTree } from "../common/fs.ts";
import type { Steps } from "../common/steps.ts";
import { runTool } from "../common/tool.ts";
import { type Journal, readJournal, swapPaths, writeJournal } from "./journal.ts";

type Log = (message: string) => void;

export async function install(tree: string, target: string, steps: Steps, log: Log) {
  const previous = await readJournal(tree);
  if (previous && previous.target !== target) {
    fail("DIRECTORY_DEST", `this deployment already swapped ${previous.target}, not ${target}`);
  }
  if (previous?.phase === "installed" || previous?.phase === "committed") {
    log(`${target} already holds the new tree`);
    return;
  }
  // A killed earlier attempt: go back to the old tree, then install from the start.
  if (previous) await back(tree, previous, steps, log);

  const update = `${tree}/files/update.tar`;
  if (!(await exists(update))) {
    fail("DIRECTORY_PAYLOAD", "the artifact has no update.tar payload file");
  }
  const p = swapPaths(target);
  await fs.mkdir(p.parent, { recursive: true });
  await removeLeftovers(p.staged, p.backup, p.discard, log);
  const journal: Journal = { phase: "staging", target, hadOld: await exists(target) };
  await writeJournal(tree, journal);
  steps.done("journal: staging");

  await fs.mkdir(p.staged, { mode: 0o755 });
  await runTool("DIRECTORY_UNPACK", "tar", ["-xf", update, "-C", p.staged]);
  steps.done("unpacked");
  await syncTree(p.staged);
  await syncDir(p.parent);
  steps.done("new tree synced");
  await writeJournal(tree, { ...journal, phase: "staged" });
  steps.done("journal: staged");

  if (journal.hadOld) {
    await fs.rename(target, p.backup);
    steps.done("old tree moved aside");
  }
  await fs.rename(p.staged, target);
  steps.done("new tree in place");
  await syncDir(p.parent);
  steps.done("renames synced");
  await writeJournal(tree, { ...journal, phase: "installed" });
  steps.done("journal: installed");
  log(`${target} replaced; previous tree kept until commit`);
}

export async function commit(tree: string, steps: Steps, log: Log) {
  const journal = await readJournal(tree);
  if (journal?.phase === "committed") return;
  if (journal?.phase !== "installed") {
    fail(
      "DIRECTORY_NOT_INSTALLED",
      "nothing was installed in this deployment, so nothing to commit",
    );
  }
  await writeJournal(tree, { ...journal, phase: "committed" });
  steps.done("journal: committed");
  log(`${journal.target} committed`);
}

export async function rollback(tree: string, steps: Steps, log: Log) {
  const journal = await readJournal(tree);
  if (!journal) {
    log("nothing was changed, nothing to roll back");
    return;
  }
  const p = swapPaths(journal.target);
  if (journal.phase === "committed" && journal.hadOld && !(await exists(p.backup))) {
    fail("DIRECTORY_COMMITTED", `${journal.target} was committed and its previous tree removed`);
  }
  await back(tree, journal, steps, log);
}

/** Cleanup ends the deployment: a committed one drops the old tree, any other goes back. */
export async function cleanup(tree: string, steps: Steps, log: Log) {
  const journal = await readJournal(tree);
  if (!journal) return;
  if (journal.phase !== "committed") {
    await back(tree, journal, steps, log);
    return;
  }
  const p = swapPaths(journal.target);
  if (await exists(p.backup)) {
    await removeTree(p.discard);
    await fs.rename(p.backup, p.discard);
    await syncDir(p.parent);
    steps.done("old tree discarded");
  }
  await removeTree(p.discard);
  await removeTree(p.staged);
  steps.done("garbage removed");
}

/** Brings the target back to the tree it held before this deployment. Idempotent. */
async function back(tree: string, journal: Journal, steps: Steps, log: Log) {
  const p = swapPaths(journal.target);
  if (journal.phase !== "rolled-back") {
    const swapped = journal.phase !== "staging";
    if (await exists(p.backup)) {
      // The old tree is aside: whatever is at the target now is the new one.
      if (await exists(p.target)) await moveToDiscard(p.target, p.discard, p.parent);
      steps.done("new tree moved aside");
      await fs.rename(p.backup, p.target);
      await syncDir(p.parent);
      steps.done("old tree restored");
    } else if (!journal.hadOld && swapped && (await exists(p.target))) {
      // There was no target before: the one there now came with this deployment.
      await moveToDiscard(p.target, p.discard, p.parent);
      steps.done("new tree moved aside");
    }
    // Otherwise the old tree never left its place.
  }
  await removeTree(p.staged);
  await removeTree(p.discard);
  await syncDir(p.parent);
  steps.done("garbage removed");
  if (journal.phase !== "rolled-back") {
    await writeJournal(tree, { ...journal, phase: "rolled-back" });
    steps.done("journal: rolled-back");
    log(`${journal.target} rolled back to its previous tree`);
  }
}

async function moveToDiscard(path: string, discard: string, parent: string) {
  await removeTree(discard);
  await fs.rename(path, discard);
  await syncDir(parent);
}

/** Names left by a deployment whose file tree is gone: the client has moved on from it. */
async function removeLeftovers(staged: string, backup: string, discard: string, log: Log) {
  for (const path of [staged, backup, discard]) {
    if (await exists(path)) {
      log(`removing ${path}, left by an earlier deployment`);
      await removeTree(path);
    }
  }
}
