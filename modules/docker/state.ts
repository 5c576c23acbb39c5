/**
 * What the docker module remembers for one deployment, in the file tree's tmp/ (kept by
 * the client across reboots until Cleanup): the containers as they were before, recorded
 * before anything is touched, and how far the deployment got.
 */
import { randomBytes } from "node:crypto";
import { fail } from "../../src/errors.ts";
import { atomicWriteFile, readTextIfExists } from "../../src/files.ts";

export interface PreviousContainer {
  name: string;
  existed: boolean;
  /** Container and image IDs and run state of the container that had this name. */
  id?: string;
  image?: string;
  running?: boolean;
}

export interface DockerState {
  /** Labels the containers this deployment creates, to tell them from the old ones. */
  deployment: string;
  phase: "installing" | "installed" | "committed" | "rolled-back";
  engine: string;
  previous: PreviousContainer[];
}

const path = (tree: string) => `${tree}/tmp/docker.state.json`;

export function newState(engine: string): DockerState {
  return { deployment: randomBytes(8).toString("hex"), phase: "installing", engine, previous: [] };
}

export async function readState(tree: string): Promise<DockerState | undefined> {
  const text = await readTextIfExists(path(tree));
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as DockerState;
  } catch {
    fail("DOCKER_STATE", `${path(tree)} is damaged; check the containers by hand`);
  }
}

export async function writeState(tree: string, state: DockerState): Promise<void> {
  await atomicWriteFile(path(tree), JSON.stringify(state, null, 1) + "\n", 0o600);
}

/** Where the old container waits, stopped, until commit or rollback. */
export function asideName(name: string): string {
  return `${name}.ota-prev`;
}

export const DEPLOYMENT_LABEL = "io.ota.deployment";
