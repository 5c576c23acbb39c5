/**
 * Errors that speak to people: a stable code a script can match on, one line that says
 * what happened and what to do, and the exit code Mender's client would use.
 */

/** Mender's exit codes: 0 ok, 1 failed, 2 nothing in progress, 4 reboot required. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  nothingInProgress: 2,
  rebootRequired: 4,
} as const;
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

export class OtaError extends Error {
  override readonly name = "OtaError";
  constructor(
    /** Stable, upper-case identifier, e.g. `ARTIFACT_CHECKSUM`. */
    readonly code: string,
    message: string,
    readonly exitCode: ExitCode = ExitCode.failed,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Throws an {@link OtaError}; reads well in guard clauses. */
export function fail(code: string, message: string, options?: { cause?: unknown }): never {
  throw new OtaError(code, message, ExitCode.failed, options);
}

/** True when `error` is an {@link OtaError}, optionally with the given code. */
export function isOtaError(error: unknown, code?: string): error is OtaError {
  return error instanceof OtaError && (code === undefined || error.code === code);
}

/**
 * Wraps anything thrown by a dependency (a tar library, zlib, JSON.parse) into an
 * {@link OtaError} with our code, keeping an existing OtaError as it is.
 */
export function asOtaError(error: unknown, code: string, what: string): OtaError {
  if (error instanceof OtaError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new OtaError(code, `${what}: ${detail}`, ExitCode.failed, { cause: error });
}
