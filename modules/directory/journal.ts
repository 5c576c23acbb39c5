/**
 * The swap journal of the directory module: where the new tree is staged, where the old
 * one is kept, and how far the swap got. It lives in the file tree's tmp/, which the
 * client keeps for the whole deployment (across reboots) and removes after Cleanup.
 * Written atomically (temp file, fsync, rename, fsync dir), so a kill leaves the old or
 * the new record, never half of one.
 */
import { basename, dirname } from "node:path";
import { fail } from "../../src/errors.ts";
import { atomicWriteFile, readTextIfExists } from "../../src/files.ts";

/**
 * staging:     the new tree is being unpacked; the target is untouched.
 * staged:      the new tree is complete; the renames may have started.
 * installed:   the target holds the new tree; the old one is kept as the backup.
 * committed:   the new tree stays; the backup is garbage (removed in Cleanup).
 * rolled-back: the target holds the old tree again; nothing else is left.
 */
export type Phase = "staging" | "staged" | "installed" | "committed" | "rolled-back";

export interface Journal {
  phase: Phase;
  /** The directory being replaced (absolute). */
  target: string;
  /** Whether the target existed before the install (if not, rollback removes it). */
  hadOld: boolean;
}

/** Names next to the target, on the same filesystem, so that renames are atomic. */
export interface SwapPaths {
  target: string;
  parent: string;
  /** The new tree while it is unpacked. */
  staged: string;
  /** The old tree once it has been moved aside. */
  backup: string;
  /** A tree on its way out (removed last; its content is never needed again). */
  discard: string;
}

export function swapPaths(target: string): SwapPaths {
  const parent = dirname(target);
  const name = basename(target);
  return {
    target,
    parent,
    staged: `${parent}/.${name}.ota-new`,
    backup: `${parent}/.${name}.ota-old`,
    discard: `${parent}/.${name}.ota-discard`,
  };
}

export function journalPath(tree: string): string {
  return `${tree}/tmp/directory.journal`;
}

export async function readJournal(tree: string): Promise<Journal | undefined> {
  const text = await readTextIfExists(journalPath(tree));
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Journal;
    if (typeof value.target === "string" && typeof value.phase === "string") return value;
  } catch { /* reported below */ }
  fail("DIRECTORY_JOURNAL", `${journalPath(tree)} is damaged; inspect the target by hand`);
}

export async function writeJournal(tree: string, journal: Journal): Promise<void> {
  await atomicWriteFile(journalPath(tree), JSON.stringify(journal) + "\n", 0o600);
}
