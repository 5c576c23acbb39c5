/**
 * Name rules for what an artifact may carry: payload files and state scripts are single
 * path components, so nothing in an artifact can name a place outside its own directory.
 */
import { fail } from "../errors.ts";

/** The states an artifact may carry scripts for (rootfs scripts cover the others). */
export const artifactScriptStates = [
  "ArtifactInstall",
  "ArtifactReboot",
  "ArtifactCommit",
  "ArtifactRollback",
  "ArtifactRollbackReboot",
  "ArtifactFailure",
] as const;

export const scriptStates = ["Idle", "Sync", "Download", ...artifactScriptStates] as const;
export type ScriptState = typeof scriptStates[number];
export const scriptActions = ["Enter", "Leave", "Error"] as const;
export type ScriptAction = typeof scriptActions[number];

const scriptName = new RegExp(
  `^(${scriptStates.join("|")})_(${scriptActions.join("|")})_[0-9]{2}(_\\S+)?$`,
);

/** Parses `ArtifactInstall_Enter_05_note` into its state and action; undefined if not a script name. */
export function parseScriptName(
  name: string,
): { state: ScriptState; action: ScriptAction } | undefined {
  if (name.includes("/")) return undefined;
  const match = scriptName.exec(name);
  return match ? { state: match[1] as ScriptState, action: match[2] as ScriptAction } : undefined;
}

/** A single, harmless path component: no separators, no `.`/`..`, no control characters. */
export function isSafeBaseName(name: string, maxLength = 255): boolean {
  return name.length > 0 && name.length <= maxLength && name !== "." && name !== ".." &&
    !/[/\\\p{Cc}]/u.test(name);
}

/** mender-artifact's stricter rule for payload file names it writes: letters, digits, `_-.,`. */
export function isPortablePayloadName(name: string): boolean {
  return /^[\w\-.,]+$/.test(name) && name !== "." && name !== "..";
}

export function requireSafeBaseName(name: string, what: string, maxLength?: number): void {
  if (!isSafeBaseName(name, maxLength)) {
    fail(
      "UNSAFE_NAME",
      `${what} ${JSON.stringify(name.slice(0, 300))} is not a plain file name; ` +
        "names with '/', '..' or control characters are refused",
    );
  }
}
