/**
 * The update steps a deployment drives, on top of the same verified streaming install that
 * `ota install` runs: download (up to the pause before ArtifactInstall), install (up to the
 * pause before ArtifactCommit), commit, and the two ways to give up (before anything was
 * installed: Cleanup only; after: the rollback path). The pauses are where the daemon reports
 * to the server and learns of an abort. This is the only file of managed/ that knows the
 * update machine's entry points.
 */
import type { UpdateRecord } from "../device/store.ts";
import { isOtaError, OtaError } from "../errors.ts";
import {
  currentArtifactName,
  deviceType,
  type Engine,
  loadStore,
  sourceOptions,
} from "../update/engine.ts";
import { downloadFailed, errorPath, openRun, type Outcome } from "../update/machine.ts";
import { commit, install, resume } from "../update/standalone.ts";
import { openSource } from "../update/source.ts";
import type { DeviceState } from "./deployments.ts";

/** The update record in the store, if an update is under way. */
export async function currentUpdate(engine: Engine): Promise<UpdateRecord | undefined> {
  return (await loadStore(engine.paths.dataDir)).update;
}

export async function deviceState(engine: Engine): Promise<DeviceState> {
  const store = await loadStore(engine.paths.dataDir);
  return {
    artifactName: await currentArtifactName(engine, store),
    deviceType: await deviceType(engine),
    provides: {
      ...store.provides,
      ...(store.artifactGroup ? { artifact_group: store.artifactGroup } : {}),
    },
  };
}

/**
 * Streams the artifact through verification into its handler and pauses before
 * ArtifactInstall. `cancel` aborts the download (SIGTERM): nothing is installed then.
 */
export async function downloadArtifact(
  engine: Engine,
  uri: string,
  tls: { cert?: string; key?: string },
  cancel: AbortSignal,
): Promise<UpdateRecord> {
  const source = await openSource(uri, { ...await sourceOptions(engine), ...tls, signal: cancel });
  const outcome = await install(engine, uri, { stopBefore: "ArtifactInstall", source });
  const record = await currentUpdate(engine);
  if (!record || record.state !== "Before_ArtifactInstall_Enter") {
    throw new OtaError(
      "UPDATE_FAILED",
      `the download ended without an update: ${outcome.messages.join(" ")}`,
    );
  }
  return record;
}

/** ArtifactInstall (or the recovery of an interrupted one), up to the pause before ArtifactCommit. */
export async function installArtifact(engine: Engine): Promise<UpdateRecord> {
  const outcome = await resume(engine, { stopBefore: "ArtifactCommit" });
  const record = await currentUpdate(engine);
  if (!record || record.state !== "Before_ArtifactCommit_Enter") {
    throw new OtaError(
      "UPDATE_FAILED",
      `the installation did not finish: ${outcome.messages.join(" ")}`,
    );
  }
  return record;
}

/** ArtifactCommit and what follows; NOT_REBOOTED when the new system is not running yet. */
export async function commitArtifact(engine: Engine): Promise<Outcome> {
  return await commit(engine);
}

/** Gives up before ArtifactInstall: only Cleanup runs (nothing was installed). */
export async function abandonDownloaded(engine: Engine, cause: OtaError): Promise<void> {
  const store = await loadStore(engine.paths.dataDir);
  if (!store.update) return;
  await downloadFailed(await openRun(engine, store), cause).catch(ignoreReported);
}

/** Gives up after ArtifactInstall: ArtifactRollback (if supported), ArtifactFailure, Cleanup. */
export async function rollBackInstalled(engine: Engine, cause: OtaError): Promise<void> {
  const store = await loadStore(engine.paths.dataDir);
  if (!store.update) return;
  await errorPath(await openRun(engine, store), cause).catch(ignoreReported);
}

function ignoreReported(error: unknown): void {
  if (!isOtaError(error)) throw error; // the failure itself is the deployment's outcome
}
