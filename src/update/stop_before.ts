/**
 * Mender 5's `--stop-before STATE` (mender-update 5.x, shipped in Mender 4.x): the states an
 * update can be stopped before, and the option's parser. Where each stops is the transition
 * table's business (machine.ts: a pause, or a step that stops once recorded).
 */
import { fail } from "../errors.ts";

/**
 * What --stop-before accepts: the states mender-update 5 (Mender 4.x) takes, spelled as it
 * spells them, and ota's ArtifactReboot_Enter, which stops at the commit pause: in standalone
 * mode the reboot is a person's, and it happens there.
 */
export const stopPoints = [
  "ArtifactInstall_Enter",
  "ArtifactReboot_Enter",
  "ArtifactCommit_Enter",
  "ArtifactCommit_Leave",
  "ArtifactRollback_Enter",
  "ArtifactFailure_Enter",
  "Cleanup",
] as const;
export type StopPoint = typeof stopPoints[number];

/**
 * `--stop-before STATE` as mender-update 5 spells it, or an `_Enter` point without its suffix
 * (as ota took it before). Every point stops at one row of the table.
 */
export function parseStopBefore(value: string): StopPoint {
  const found = stopPoints.find((point) =>
    value === point || (point.endsWith("_Enter") && value === point.slice(0, -"_Enter".length))
  );
  if (!found) {
    fail(
      "BAD_ARGUMENTS",
      `cannot stop before ${JSON.stringify(value)}: --stop-before takes ${stopPoints.join(", ")}`,
    );
  }
  return found;
}

/** The option's parser when it is repeated: every point given stops the update. */
export function collectStopBefore(value: string, previous: StopPoint[] = []): StopPoint[] {
  return [...previous, parseStopBefore(value)];
}
