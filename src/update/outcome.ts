/**
 * What the standalone commands print and how they exit, read from how a run went (its trail
 * of states and events): Mender's result messages ("Installed, but not committed.",
 * "Committed.", "Rolled back." ...) and exit codes (0, 1, 4). A failed update becomes one
 * OtaError that names its cause and whether the update was rolled back.
 */
import { type ErrorCode, ExitCode, OtaError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { RunResult } from "./driver.ts";
import type { Event, StateName } from "./machine.ts";

export interface Outcome {
  exitCode: ExitCode;
  /** Mender's result messages, for stdout. */
  messages: string[];
}

export interface RenderOptions {
  /** Exit 4 when a reboot is needed (Mender's --reboot-exit-code). */
  rebootExitCode?: boolean;
  /** What a failure is reported as when the run did not fail itself (a rollback on request). */
  cause?: OtaError;
}

export const nothingInProgress = (): Outcome => ({
  exitCode: ExitCode.nothingInProgress,
  messages: ["No update in progress."],
});

function went(result: RunResult, state: StateName, event?: Event): boolean {
  return result.trail.some((s) => s.state === state && (event === undefined || s.event === event));
}

function asCause(error: unknown, code: ErrorCode): OtaError {
  if (error instanceof OtaError) return error;
  return new OtaError(code, error instanceof Error ? error.message : String(error));
}

/** The outcome of a run of install, resume, commit or rollback; throws for a failed update. */
export function render(result: RunResult, log: Logger, options: RenderOptions = {}): Outcome {
  const { record } = result;
  if (result.held === "refused") throw result.error;
  if (result.held === "stopBefore") {
    const stopped = `Stopped before ${result.stopBefore}. Use 'resume' to continue.`;
    // as Mender 5, a run that failed before it stopped says so and exits 1
    if (result.error === undefined) {
      const done = went(result, "ArtifactCommit", "success") ? ["Committed."] : [];
      return { exitCode: ExitCode.ok, messages: [...done, stopped] };
    }
    const cause = asCause(result.error, "UPDATE_FAILED");
    const message = `${cause.message}; stopped before ${result.stopBefore}: 'resume' continues`;
    throw new OtaError(cause.code, message, ExitCode.failed, { cause });
  }
  if (result.held === "host") {
    const messages = [
      "Installed, but not committed.",
      "Use 'commit' to update, or 'rollback' to roll back the update.",
    ];
    if (record.needsReboot === "No") return { exitCode: ExitCode.ok, messages };
    messages.push("At least one payload requested a reboot of the device it updated.");
    return {
      exitCode: options.rebootExitCode ? ExitCode.rebootRequired : ExitCode.ok,
      messages,
    };
  }
  // the run's own failure; else the one an earlier run recorded before it was interrupted
  const cause = () =>
    options.cause ??
      (result.error !== undefined ? asCause(result.error, "UPDATE_FAILED") : new OtaError(
        result.resumedStop ? "UPDATE_FAILED" : "INTERRUPTED",
        record.error ?? "the update failed",
      ));
  if (went(result, "Download", "failure") || went(result, "Download", "abort")) {
    const base = asCause(result.error ?? cause(), "DOWNLOAD_FAILED");
    throw new OtaError(base.code, `${base.message}; nothing was installed`, ExitCode.failed, {
      cause: base,
    });
  }
  if (went(result, "ArtifactCommitLeave")) return committed(result);
  const rolledBack = went(result, "ArtifactRollback", "success");
  if (record.failed || (went(result, "RollbackQuery") && !rolledBack)) {
    throw failedUpdate(result, cause(), log);
  }
  if (rolledBack) return { exitCode: ExitCode.ok, messages: ["Rolled back."] };
  return { exitCode: ExitCode.ok, messages: ["Cleaned up."] };
}

function committed(result: RunResult): Outcome {
  const messages: string[] = [];
  if (went(result, "InstallQuery")) {
    messages.push(
      result.record.payloads[0]?.type === null
        ? "Artifact with empty payload. Committing immediately."
        : "Update Module doesn't support rollback. Committing immediately.",
    );
  }
  messages.push("Committed.");
  if (!went(result, "ArtifactCommitLeave", "failure")) return { exitCode: ExitCode.ok, messages };
  messages.push("One or more post-commit steps failed.");
  return { exitCode: ExitCode.failed, messages };
}

/** The error path's messages go to the log; the error says what failed and what became of it. */
function failedUpdate(result: RunResult, cause: OtaError, log: Logger): OtaError {
  const rolledBack = went(result, "ArtifactRollback", "success");
  if (rolledBack) log.info("Rolled back.");
  // an earlier run may have rolled back (before a --stop-before or a power cut)
  const back = rolledBack || result.record.rolledBack === true;
  if (went(result, "ArtifactRollback", "failure")) {
    log.info("Rollback failed. System may be in an inconsistent state.");
  }
  if (went(result, "RollbackQuery", "unsupported")) {
    log.info("Update Module does not support rollback. System may be in an inconsistent state.");
  }
  const what = back ? "the update was rolled back" : "the update was abandoned";
  return new OtaError(cause.code, `${cause.message}; ${what}`, ExitCode.failed, { cause });
}

/**
 * The outcome of a restart (`resume` at boot, or what `install` finishes first): a failure is
 * reported, not thrown, since finishing it is what was asked; a run that only cleaned up
 * says so.
 */
export function renderRestart(result: RunResult, log: Logger): Outcome {
  if (result.trail.every((s) => s.state === "Download" || s.state === "Cleanup")) {
    const exitCode = result.record.failed ? ExitCode.failed : ExitCode.ok;
    return { exitCode, messages: ["Cleaned up."] };
  }
  try {
    return render(result, log);
  } catch (error) {
    if (!(error instanceof OtaError)) throw error;
    return { exitCode: ExitCode.failed, messages: [`Update failed: ${error.message}`] };
  }
}
