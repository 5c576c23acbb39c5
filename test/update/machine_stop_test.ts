/**
 * --stop-before, in process: one case for every state mender-update 5 (Mender 4.x) stops
 * before, and the option repeated. Each case checks the chain of recorded states, scripts
 * and handler calls, what each command printed, and that stopping and resuming ran the very
 * chain an update that never stopped runs (the stopped step's record aside, written again
 * when it goes on): nothing skipped, nothing run twice, in the same order.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { OtaError } from "../../src/errors.ts";
import { collectStopBefore, parseStopBefore, stopPoints } from "../../src/update/stop_before.ts";
import { machine } from "../../src/update/machine.ts";
import { command, type HandlerSpec, kit, line } from "./machine_kit.ts";

const rootfsLike: HandlerSpec = { needsReboot: "Automatic", supportsRollback: true };
const scriptLike: HandlerSpec = { needsReboot: "No", supportsRollback: false };

const DOWNLOAD = "#Download Download_Enter Download Download_Leave #BeforeArtifactInstall";
const INSTALL = "#ArtifactInstall ArtifactInstall_Enter ArtifactInstall ArtifactInstall_Leave " +
  "NeedsArtifactReboot SupportsRollback #BeforeArtifactCommit";
const COMMIT = "#ArtifactCommit ArtifactCommit_Enter ArtifactCommit";
const LEAVE = "#ArtifactCommitLeave ArtifactCommit_Leave";
const ROLLBACK = "#ArtifactRollback ArtifactRollback_Enter ArtifactRollback ArtifactRollback_Leave";
const FAILURE = "#ArtifactFailure ArtifactFailure_Enter ArtifactFailure ArtifactFailure_Leave";
const CLEANUP = "#Cleanup Cleanup #Done";
const WAITING = "0 Installed, but not committed. / " +
  "Use 'commit' to update, or 'rollback' to roll back the update. / " +
  "At least one payload requested a reboot of the device it updated.";
const stopped = (point: string) => `Stopped before ${point}. Use 'resume' to continue.`;
const FAILED_INSTALL = "#ArtifactInstall ArtifactInstall_Enter ArtifactInstall " +
  "ArtifactInstall_Error SupportsRollback";

interface Case {
  name: string;
  /** The points the case stops at. */
  points: string[];
  spec?: HandlerSpec;
  steps: string[];
  outcomes: string[];
  log: string;
  /** The same update without --stop-before: the chain the stopped one must run too. */
  unstopped: string[];
}

const cases: Case[] = [
  {
    name: "ArtifactInstall_Enter: after the download, before anything is installed",
    points: ["ArtifactInstall_Enter"],
    spec: rootfsLike,
    steps: ["install --stop-before ArtifactInstall_Enter", "resume", "commit"],
    outcomes: [`0 ${stopped("ArtifactInstall_Enter")}`, WAITING, "0 Committed."],
    log: `${DOWNLOAD} ${INSTALL} ${COMMIT} ${LEAVE} ${CLEANUP}`,
    unstopped: ["install", "commit"],
  },
  {
    name: "ArtifactReboot_Enter (ota's): at the commit pause, where a person reboots",
    points: ["ArtifactReboot_Enter"],
    spec: rootfsLike,
    steps: ["install --stop-before ArtifactReboot_Enter", "commit"],
    outcomes: [`0 ${stopped("ArtifactReboot_Enter")}`, "0 Committed."],
    log: `${DOWNLOAD} ${INSTALL} ${COMMIT} ${LEAVE} ${CLEANUP}`,
    unstopped: ["install", "commit"],
  },
  {
    name: "ArtifactCommit_Enter on commit: stops where it waits (a no-op), commit goes on",
    points: ["ArtifactCommit_Enter"],
    spec: rootfsLike,
    steps: ["install", "commit --stop-before ArtifactCommit_Enter", "commit"],
    outcomes: [WAITING, `0 ${stopped("ArtifactCommit_Enter")}`, "0 Committed."],
    log: `${DOWNLOAD} ${INSTALL} ${COMMIT} ${LEAVE} ${CLEANUP}`,
    unstopped: ["install", "commit"],
  },
  {
    name: "ArtifactCommit_Leave: committed, its Leave scripts wait; no rollback any more",
    points: ["ArtifactCommit_Leave"],
    spec: rootfsLike,
    steps: ["install", "commit --stop-before ArtifactCommit_Leave", "rollback", "resume"],
    outcomes: [
      WAITING,
      `0 Committed. / ${stopped("ArtifactCommit_Leave")}`,
      "error ROLLBACK_IMPOSSIBLE: the update was already committed; " +
      "install the previous artifact to go back",
      "0 Committed.",
    ],
    log: `${DOWNLOAD} ${INSTALL} ${COMMIT} #ArtifactCommitLeave ${LEAVE} ${CLEANUP}`,
    unstopped: ["install", "commit"],
  },
  {
    name: "ArtifactRollback_Enter on rollback: a new install is refused while it waits",
    points: ["ArtifactRollback_Enter"],
    spec: rootfsLike,
    steps: ["install", "rollback --stop-before ArtifactRollback_Enter", "install", "resume"],
    outcomes: [
      WAITING,
      `0 ${stopped("ArtifactRollback_Enter")}`,
      "error UPDATE_IN_PROGRESS: update release-2 is already in progress " +
      "(ArtifactRollback_Enter); commit or roll it back first",
      "0 Rolled back.",
    ],
    log: `${DOWNLOAD} ${INSTALL} #ArtifactRollback ${ROLLBACK} ${CLEANUP}`,
    unstopped: ["install", "rollback"],
  },
  {
    name: "ArtifactFailure_Enter: a failed install says so, stops, and resume finishes it",
    points: ["ArtifactFailure_Enter"],
    spec: { ...scriptLike, fails: ["ArtifactInstall"] },
    steps: ["install --stop-before ArtifactFailure_Enter", "resume"],
    outcomes: [
      "error MODULE_FAILED: ArtifactInstall failed (as told); " +
      "stopped before ArtifactFailure_Enter: 'resume' continues",
      "error UPDATE_FAILED: ArtifactInstall failed (as told); the update was abandoned",
    ],
    log: `${DOWNLOAD} ${FAILED_INSTALL} #ArtifactFailure ${FAILURE} ${CLEANUP}`,
    unstopped: ["install"],
  },
  {
    name: "Cleanup: after the commit, before the module's Cleanup",
    points: ["Cleanup"],
    spec: rootfsLike,
    steps: ["install --stop-before Cleanup", "commit --stop-before Cleanup", "resume"],
    outcomes: [WAITING, `0 Committed. / ${stopped("Cleanup")}`, "0 Cleaned up."],
    log: `${DOWNLOAD} ${INSTALL} ${COMMIT} ${LEAVE} #Cleanup ${CLEANUP}`,
    unstopped: ["install", "commit"],
  },
  {
    name: "repeated: every point given stops the update, each resume goes to the next",
    points: ["ArtifactInstall_Enter", "ArtifactCommit_Enter", "Cleanup"],
    spec: scriptLike,
    steps: [
      "install --stop-before ArtifactInstall_Enter --stop-before ArtifactCommit_Enter " +
      "--stop-before Cleanup",
      "resume --stop-before ArtifactCommit_Enter --stop-before Cleanup",
      // where it stands, again: a no-op, as in Mender 5
      "resume --stop-before Cleanup --stop-before ArtifactCommit_Enter",
      "resume --stop-before Cleanup",
      "resume",
    ],
    outcomes: [
      `0 ${stopped("ArtifactInstall_Enter")}`,
      `0 ${stopped("ArtifactCommit_Enter")}`,
      `0 ${stopped("ArtifactCommit_Enter")}`,
      `0 Committed. / ${stopped("Cleanup")}`,
      "0 Cleaned up.",
    ],
    log: `${DOWNLOAD} ${INSTALL} ${COMMIT} ${LEAVE} #Cleanup ${CLEANUP}`,
    unstopped: ["install"],
  },
  {
    name: "repeated on the error path: before the rollback, then before ArtifactFailure",
    points: ["ArtifactRollback_Enter", "ArtifactFailure_Enter"],
    spec: { ...rootfsLike, fails: ["ArtifactInstall"] },
    steps: [
      "install --stop-before ArtifactRollback_Enter --stop-before ArtifactFailure_Enter",
      "resume --stop-before ArtifactRollback_Enter",
      "resume --stop-before ArtifactFailure_Enter",
      "resume",
    ],
    outcomes: [
      "error MODULE_FAILED: ArtifactInstall failed (as told); " +
      "stopped before ArtifactRollback_Enter: 'resume' continues",
      `0 ${stopped("ArtifactRollback_Enter")}`,
      `0 ${stopped("ArtifactFailure_Enter")}`,
      "error UPDATE_FAILED: ArtifactInstall failed (as told); the update was rolled back",
    ],
    log: `${DOWNLOAD} ${FAILED_INSTALL} #ArtifactRollback #ArtifactRollback ${ROLLBACK} ` +
      "#ArtifactFailure " +
      `${FAILURE} ${CLEANUP}`,
    unstopped: ["install"],
  },
];

/** The log with each state recorded twice in a row (stopped, then gone on) written once. */
function once(log: string): string {
  return log.split(" ").filter((word, i, all) => !word.startsWith("#") || word !== all[i - 1])
    .join(" ");
}

async function runSteps(steps: string[], spec?: HandlerSpec) {
  await using k = await kit();
  const outcomes: string[] = [];
  for (const step of steps) outcomes.push(await command(k, k.engine({ spec }), step));
  return { log: line(k.log), outcomes };
}

for (const c of cases) {
  Deno.test(`--stop-before ${c.name}`, async () => {
    const run = await runSteps(c.steps, c.spec);
    assertEquals(run.outcomes, c.outcomes);
    assertEquals(run.log, c.log);
    assertEquals(once(run.log), (await runSteps(c.unstopped, c.spec)).log);
  });
}

Deno.test("--stop-before: every state mender-update 5 takes has a case and one place to stop", () => {
  const covered = new Set(cases.flatMap((c) => c.points));
  for (const point of stopPoints) {
    assert(covered.has(point), `no case stops before ${point}`);
    const rows = Object.values(machine).filter((row) =>
      (row.kind === "pause" || row.kind === "step") && row.stopBefore?.includes(point)
    );
    assertEquals(rows.length, 1, `${point} stops at ${rows.length} rows`);
  }
});

Deno.test("--stop-before: Mender 5's spellings, the _Enter points without it; others refused", () => {
  for (const point of stopPoints) assertEquals(parseStopBefore(point), point);
  assertEquals(parseStopBefore("ArtifactInstall"), "ArtifactInstall_Enter");
  assertEquals(parseStopBefore("ArtifactRollback"), "ArtifactRollback_Enter");
  assertEquals(collectStopBefore("Cleanup", ["ArtifactInstall_Enter"]), [
    "ArtifactInstall_Enter",
    "Cleanup",
  ]);
  for (const bad of ["", "ArtifactCommit_Leav", "ArtifactInstall_Leave", "Download", "cleanup"]) {
    let error: unknown;
    try {
      parseStopBefore(bad);
    } catch (e) {
      error = e;
    }
    assert(error instanceof OtaError && error.code === "BAD_ARGUMENTS", `${bad} was taken`);
  }
});
