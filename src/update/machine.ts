/**
 * The update state machine after the download: install, commit, rollback, failure, cleanup,
 * and recovery from wherever a power cut left it. Every step is recorded in the store
 * (atomically) before it acts, so after a restart the recorded state says what was under
 * way; `recover` then resumes it or takes the error path. The artifact name and provides
 * change only in the commit step, in the same write that records it.
 */
import type { ArtifactHeader } from "../artifact/header.ts";
import { providesAfterCommit } from "../device/provides.ts";
import type { StoreData, UpdateRecord, UpdateState } from "../device/store.ts";
import { MAX_STATE_WRITES } from "../device/store.ts";
import { ExitCode, fail, OtaError } from "../errors.ts";
import type { HandlerContext, PayloadHandler } from "../handlers/handler.ts";
import { type Engine, handlerContext, persist } from "./engine.ts";

export interface Outcome {
  exitCode: ExitCode;
  /** Mender's result messages, for stdout. */
  messages: string[];
}

export interface Run {
  engine: Engine;
  store: StoreData;
  handler: PayloadHandler;
  ctx: HandlerContext;
  /** Pause instead of entering this state (mender-update --stop-before). */
  stopBefore?: string;
}

export class Stopped extends Error {
  constructor(readonly state: string) {
    super(`stopped before ${state}`);
  }
}

export async function openRun(engine: Engine, store: StoreData, stopBefore?: string): Promise<Run> {
  const record = store.update!;
  const handler = await engine.handlerFor(record.payloads[0]?.type ?? null);
  const ctx = await handlerContext(engine, store);
  engine.log.openUpdateLog(engine.paths.updateLogDir, record.id);
  return { engine, store, handler, ctx, stopBefore };
}

/** The states `--stop-before` can pause at, and the state recorded for the pause. */
export const stopPoints: Record<string, UpdateState> = {
  ArtifactInstall: "Before_ArtifactInstall_Enter",
  ArtifactReboot: "Before_ArtifactCommit_Enter",
  ArtifactCommit: "Before_ArtifactCommit_Enter",
};

export function parseStopBefore(value: string): string {
  const base = value.replace(/_Enter$/, "");
  if (!stopPoints[base]) {
    fail(
      "BAD_ARGUMENTS",
      `--stop-before takes one of ${
        Object.keys(stopPoints).join(", ")
      } (optionally with _Enter), not ${value}`,
    );
  }
  return base;
}

export async function enter(run: Run, state: UpdateState): Promise<void> {
  const record = run.store.update!;
  const base = state.replace(/^Before_/, "").replace(/_(Enter|Leave)$/, "");
  const pause = run.stopBefore ? stopPoints[run.stopBefore] : undefined;
  if (pause && (base === run.stopBefore || state === pause)) {
    record.state = pause;
    await persist(run.engine, run.store);
    throw new Stopped(run.stopBefore!);
  }
  if (run.store.writes > MAX_STATE_WRITES && !record.failed) {
    record.failed = true;
    record.error = "the update kept restarting; giving up";
  }
  record.state = state;
  await persist(run.engine, run.store);
  run.ctx.record = record;
}

/** The header fields the commit needs, rebuilt from the record (the artifact is long gone). */
export function headerOf(record: UpdateRecord): ArtifactHeader {
  return {
    info: record.headerInfo,
    infoBytes: new Uint8Array(0),
    scripts: [],
    payloads: record.payloads.map((p, index) => ({
      index,
      type: p.type,
      typeInfo: p.typeInfo,
      typeInfoBytes: new Uint8Array(0),
    })),
  };
}

/** ArtifactInstall: Enter scripts, the handler's install, Leave scripts; then ask about reboot and rollback. */
export async function installStep(run: Run): Promise<void> {
  await enter(run, "ArtifactInstall_Enter");
  const { engine, handler, ctx } = run;
  try {
    await engine.scripts.run("ArtifactInstall", "Enter");
    await handler.install(ctx);
    await engine.scripts.run("ArtifactInstall", "Leave");
    const record = run.store.update!;
    record.needsReboot = await handler.needsReboot(ctx);
    record.supportsRollback = await handler.supportsRollback(ctx);
  } catch (error) {
    await engine.scripts.run("ArtifactInstall", "Error", { ignoreErrors: true });
    throw error;
  }
}

/** ArtifactCommit: runs the commit, records the new name and provides, then Leave scripts and cleanup. */
export async function commitStep(run: Run): Promise<Outcome> {
  const { engine, handler, ctx, store } = run;
  await enter(run, "ArtifactCommit_Enter");
  try {
    await engine.scripts.run("ArtifactCommit", "Enter");
    await handler.commit(ctx);
  } catch (error) {
    await engine.scripts.run("ArtifactCommit", "Error", { ignoreErrors: true });
    if (error instanceof OtaError && error.code === "NOT_REBOOTED") {
      await enter(run, "Before_ArtifactCommit_Enter");
      throw error;
    }
    return await errorPath(run, error);
  }
  const record = store.update!;
  store.provides = providesAfterCommit(store.provides, headerOf(record));
  store.artifactName = store.provides.artifact_name;
  store.artifactGroup = store.provides.artifact_group;
  delete store.provides.artifact_name;
  delete store.provides.artifact_group;
  await enter(run, "ArtifactCommit_Leave");
  return await commitLeaveStep(run);
}

async function commitLeaveStep(run: Run): Promise<Outcome> {
  let postCommitFailed = false;
  try {
    await run.engine.scripts.run("ArtifactCommit", "Leave");
  } catch (error) {
    postCommitFailed = true;
    run.engine.log.error((error as Error).message);
    await run.engine.scripts.run("ArtifactCommit", "Error", { ignoreErrors: true });
  }
  await cleanupStep(run);
  if (postCommitFailed) {
    return {
      exitCode: ExitCode.failed,
      messages: ["Committed.", "One or more post-commit steps failed."],
    };
  }
  return { exitCode: ExitCode.ok, messages: ["Committed."] };
}

/** Cleanup: always last; then the update record is gone. */
export async function cleanupStep(run: Run): Promise<void> {
  await enter(run, "Cleanup");
  try {
    await run.handler.cleanup(run.ctx);
  } catch (error) {
    run.engine.log.error(`Cleanup failed: ${(error as Error).message}`);
  }
  delete run.store.update;
  await persist(run.engine, run.store);
  run.engine.log.closeUpdateLog();
}

/** A failed download changed nothing: only Cleanup runs (Mender's rule), then the failure is reported. */
export async function downloadFailed(run: Run, cause: unknown): Promise<never> {
  const record = run.store.update!;
  record.failed = true;
  record.error = cause instanceof Error ? cause.message : String(cause);
  run.engine.log.error(record.error);
  await cleanupStep(run);
  const base = cause instanceof OtaError ? cause : new OtaError("DOWNLOAD_FAILED", record.error);
  throw new OtaError(base.code, `${base.message}; nothing was installed`, ExitCode.failed, {
    cause,
  });
}

/**
 * The error path: ArtifactRollback (when the handler supports it), ArtifactFailure, Cleanup.
 * Errors here are logged and the path goes on; it ends by reporting the original failure.
 */
export async function errorPath(
  run: Run,
  cause: unknown,
  fromRollbackRequest = false,
): Promise<Outcome> {
  const { engine, handler, ctx, store } = run;
  const record = store.update!;
  if (!record.failed && !fromRollbackRequest) {
    record.failed = true;
    record.error = cause instanceof Error ? cause.message : String(cause);
  }
  if (record.error) engine.log.error(record.error);
  const messages: string[] = [];
  let rolledBack = false;
  const supports = record.supportsRollback ??
    await handler.supportsRollback(ctx).catch(() => false);
  if (supports) {
    await enter(run, "ArtifactRollback_Enter");
    try {
      await engine.scripts.run("ArtifactRollback", "Enter", { ignoreErrors: true });
      await handler.rollback(ctx);
      await engine.scripts.run("ArtifactRollback", "Leave", { ignoreErrors: true });
      rolledBack = true;
      messages.push("Rolled back.");
    } catch (error) {
      engine.log.error(`Rollback failed: ${(error as Error).message}`);
      messages.push("Rollback failed. System may be in an inconsistent state.");
    }
  } else if (record.state !== "Download_Enter") {
    messages.push(
      "Update Module does not support rollback. System may be in an inconsistent state.",
    );
  }
  // A rollback the user asked for is not a failure: Mender 3.4 runs no ArtifactFailure then.
  if (!(fromRollbackRequest && rolledBack)) {
    await enter(run, "ArtifactFailure_Enter");
    try {
      await engine.scripts.run("ArtifactFailure", "Enter", { ignoreErrors: true });
      await handler.failure(ctx);
      await engine.scripts.run("ArtifactFailure", "Leave", { ignoreErrors: true });
    } catch (error) {
      engine.log.error(`ArtifactFailure failed: ${(error as Error).message}`);
    }
  }
  await cleanupStep(run);
  if (fromRollbackRequest && rolledBack) return { exitCode: ExitCode.ok, messages };
  const base = cause instanceof OtaError
    ? cause
    : new OtaError("UPDATE_FAILED", String((cause as Error)?.message ?? cause));
  for (const message of messages) engine.log.info(message);
  const what = rolledBack ? "the update was rolled back" : "the update was abandoned";
  throw new OtaError(base.code, `${base.message}; ${what}`, ExitCode.failed, { cause });
}

/**
 * Continues an update that a power cut or a kill interrupted, according to where it was:
 * an unfinished install or rollback takes the error path, an unfinished commit is done
 * again (the handler's commit refuses when the new system did not come up, which then
 * rolls back), a pending update is left for commit or rollback.
 */
export async function recover(run: Run): Promise<Outcome | undefined> {
  const record = run.store.update!;
  const log = run.engine.log;
  switch (record.state) {
    case "Before_ArtifactInstall_Enter":
    case "Before_ArtifactCommit_Enter":
      return undefined;
    case "Download_Enter":
      log.info(
        `An interrupted download of ${record.headerInfo.artifact_provides.artifact_name} is cleaned up`,
      );
      record.failed = true;
      record.error ??= "the download was interrupted";
      await cleanupStep(run);
      return { exitCode: ExitCode.failed, messages: ["Cleaned up."] };
    case "ArtifactInstall_Enter":
      log.info("An interrupted installation takes the rollback path");
      return await errorPath(run, new OtaError("INTERRUPTED", "the installation was interrupted"))
        .catch(reported);
    case "ArtifactCommit_Enter":
      log.info("An interrupted commit is done again");
      return await commitStep(run).catch(reported);
    case "ArtifactCommit_Leave":
      return await commitLeaveStep(run);
    case "ArtifactRollback_Enter":
    case "ArtifactFailure_Enter":
      log.info("An interrupted rollback is finished");
      return await errorPath(
        run,
        new OtaError("INTERRUPTED", record.error ?? "the update failed"),
        !record.failed,
      ).catch(reported);
    case "Cleanup":
      await cleanupStep(run);
      return { exitCode: record.failed ? ExitCode.failed : ExitCode.ok, messages: ["Cleaned up."] };
    default:
      return fail("STORE_CORRUPT", `unknown update state ${record.state}`);
  }
}

/** Turns a failure that the error path already handled into an outcome (the recovery itself succeeded). */
function reported(error: unknown): Outcome {
  if (error instanceof OtaError) {
    return { exitCode: ExitCode.failed, messages: [`Update failed: ${error.message}`] };
  }
  throw error;
}
