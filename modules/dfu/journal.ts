/**
 * What one deployment has done to the board, in the file tree's tmp/ (it lives until
 * Cleanup, so ArtifactRollback finds it even after a crash), and the last image ota
 * installed on each board, kept across deployments in the gateway's state directory.
 */
import { promises as fs } from "node:fs";
import { atomicWriteFile, exists, readTextIfExists } from "../../src/files.ts";

export interface Journal {
  /** "detached": board put in DFU mode; "flashing": its flash may no longer hold the old image. */
  phase: "idle" | "detached" | "flashing" | "flashed" | "verified" | "rolled-back";
  /** Where the image to roll back to is: tmp/backup.bin (upload or copy of the last install). */
  backup?: "upload" | "installed";
  /** The run-time interface name the board had before, to recognise the old firmware. */
  previousName?: string;
  previousVersion?: string;
}

export const backupFile = (tree: string) => `${tree}/tmp/dfu-backup.bin`;

export async function readJournal(tree: string): Promise<Journal> {
  const text = await readTextIfExists(`${tree}/tmp/dfu-journal.json`);
  return text ? JSON.parse(text) as Journal : { phase: "idle" };
}

export async function writeJournal(tree: string, journal: Journal): Promise<void> {
  await fs.mkdir(`${tree}/tmp`, { recursive: true });
  await atomicWriteFile(`${tree}/tmp/dfu-journal.json`, JSON.stringify(journal));
}

export interface Installed {
  image: string;
  version?: string;
  artifact?: string;
}

export async function lastInstalled(
  stateDir: string,
  target: string,
): Promise<Installed | undefined> {
  const text = await readTextIfExists(`${stateDir}/${target}/installed.json`);
  if (!text) return undefined;
  const info = JSON.parse(text) as Omit<Installed, "image">;
  const image = `${stateDir}/${target}/installed.bin`;
  return (await exists(image)) ? { image, ...info } : undefined;
}

/** Keeps `image` as the board's current firmware: the image first, then its description. */
export async function recordInstalled(
  stateDir: string,
  target: string,
  image: string,
  info: Omit<Installed, "image">,
): Promise<void> {
  const dir = `${stateDir}/${target}`;
  await fs.mkdir(dir, { recursive: true });
  await atomicWriteFile(`${dir}/installed.bin`, await fs.readFile(image), 0o644);
  await atomicWriteFile(`${dir}/installed.json`, JSON.stringify(info), 0o644);
}
