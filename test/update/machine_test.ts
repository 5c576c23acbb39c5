/**
 * Every chain of states Mender documents, walked in process through the one transition
 * table: success with and without a reboot, failure in each Artifact* state, rollback
 * supported or not, failing state scripts, pauses, and a daemon's host (status reports, an
 * abort, real reboots and the rollback reboot). Each case checks the whole chain of recorded
 * states, state scripts and handler calls, and what the standalone commands print and exit
 * with (Mender 3.4's messages).
 */
import { assertEquals } from "../helpers/assert.ts";
import { command, daemonStep, type HandlerSpec, kit, line } from "./machine_kit.ts";

const rootfsLike: HandlerSpec = { needsReboot: "Automatic", supportsRollback: true };
const directoryLike: HandlerSpec = { needsReboot: "No", supportsRollback: true };
const scriptLike: HandlerSpec = { needsReboot: "No", supportsRollback: false };

const DOWNLOAD = "#Download Download_Enter Download Download_Leave #BeforeArtifactInstall";
const INSTALL = "#ArtifactInstall ArtifactInstall_Enter ArtifactInstall ArtifactInstall_Leave";
const QUERIES = "NeedsArtifactReboot SupportsRollback";
const COMMIT = "#ArtifactCommit ArtifactCommit_Enter ArtifactCommit " +
  "#ArtifactCommitLeave ArtifactCommit_Leave #Cleanup Cleanup #Done";
const ROLLBACK = "#ArtifactRollback ArtifactRollback_Enter ArtifactRollback ArtifactRollback_Leave";
const FAILURE = "#ArtifactFailure ArtifactFailure_Enter ArtifactFailure ArtifactFailure_Leave";
const CLEANUP = "#Cleanup Cleanup #Done";
const WAITING = "0 Installed, but not committed. / " +
  "Use 'commit' to update, or 'rollback' to roll back the update.";
const REBOOT = " / At least one payload requested a reboot of the device it updated.";

interface Case {
  name: string;
  spec?: HandlerSpec;
  failScripts?: string[];
  /** Standalone commands, or for a daemon `begin` (until done or rebooted) and `boot`. */
  steps: string[];
  /** What each standalone command printed and exited with, or the error it ended with. */
  outcomes?: string[];
  abortAt?: string;
  log: string;
}

const cases: Case[] = [
  {
    name: "install, reboot, commit (a reboot is needed)",
    spec: rootfsLike,
    steps: ["install", "commit"],
    outcomes: [WAITING + REBOOT, "0 Committed."],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit ${COMMIT}`,
  },
  {
    name: "no reboot, a way back: the update waits for commit",
    spec: directoryLike,
    steps: ["install", "commit"],
    outcomes: [WAITING, "0 Committed."],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit ${COMMIT}`,
  },
  {
    name: "no reboot, no way back: committed at once",
    spec: scriptLike,
    steps: ["install"],
    outcomes: ["0 Update Module doesn't support rollback. Committing immediately. / Committed."],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit ${COMMIT}`,
  },
  {
    name: "an empty payload is committed at once",
    steps: ["install empty"],
    outcomes: ["0 Artifact with empty payload. Committing immediately. / Committed."],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit ${COMMIT}`,
  },
  {
    name: "--reboot-exit-code: 4 when a reboot is needed",
    spec: rootfsLike,
    steps: ["install --reboot-exit-code"],
    outcomes: [WAITING.replace(/^0/, "4") + REBOOT],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit`,
  },
  {
    name: "install, then rollback on request: no ArtifactFailure",
    spec: rootfsLike,
    steps: ["install", "rollback", "commit"],
    outcomes: [WAITING + REBOOT, "0 Rolled back.", "2 No update in progress."],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit ${ROLLBACK} ${CLEANUP}`,
  },
  {
    name: "rollback on request without support: abandoned through ArtifactFailure",
    spec: { needsReboot: "Yes", supportsRollback: false },
    steps: ["install", "rollback"],
    outcomes: [
      WAITING + REBOOT,
      "error ROLLED_BACK_BY_USER: rolled back on request; the update was abandoned",
    ],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit ${FAILURE} ${CLEANUP}`,
  },
  {
    name: "Download fails: only Cleanup runs",
    spec: { ...rootfsLike, fails: ["Download"] },
    steps: ["install", "commit"],
    outcomes: [
      "error MODULE_FAILED: Download failed (as told); nothing was installed",
      "2 No update in progress.",
    ],
    log: `#Download Download_Enter Download Download_Error ${CLEANUP}`,
  },
  {
    name: "ArtifactInstall fails, rollback supported",
    spec: { ...rootfsLike, fails: ["ArtifactInstall"] },
    steps: ["install"],
    outcomes: ["error MODULE_FAILED: ArtifactInstall failed (as told); the update was rolled back"],
    log: `${DOWNLOAD} #ArtifactInstall ArtifactInstall_Enter ArtifactInstall ` +
      `ArtifactInstall_Error SupportsRollback ${ROLLBACK} ${FAILURE} ${CLEANUP}`,
  },
  {
    name: "ArtifactInstall fails, no rollback",
    spec: { ...scriptLike, fails: ["ArtifactInstall"] },
    steps: ["install"],
    outcomes: ["error MODULE_FAILED: ArtifactInstall failed (as told); the update was abandoned"],
    log: `${DOWNLOAD} #ArtifactInstall ArtifactInstall_Enter ArtifactInstall ` +
      `ArtifactInstall_Error SupportsRollback ${FAILURE} ${CLEANUP}`,
  },
  {
    name: "the reboot query fails: the install's Error scripts, then the rollback path",
    spec: { ...rootfsLike, fails: ["NeedsArtifactReboot"] },
    steps: ["install"],
    outcomes: [
      "error MODULE_FAILED: NeedsArtifactReboot failed (as told); the update was rolled back",
    ],
    log: `${DOWNLOAD} ${INSTALL} NeedsArtifactReboot ArtifactInstall_Error SupportsRollback ` +
      `${ROLLBACK} ${FAILURE} ${CLEANUP}`,
  },
  {
    name: "ArtifactCommit fails: rolled back",
    spec: { ...rootfsLike, fails: ["ArtifactCommit"] },
    steps: ["install", "commit"],
    outcomes: [
      WAITING + REBOOT,
      "error MODULE_FAILED: ArtifactCommit failed (as told); the update was rolled back",
    ],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit #ArtifactCommit ` +
      `ArtifactCommit_Enter ArtifactCommit ArtifactCommit_Error ${ROLLBACK} ${FAILURE} ${CLEANUP}`,
  },
  {
    name: "ArtifactCommit before the reboot: refused, the update keeps waiting",
    spec: { ...rootfsLike, notRebooted: true },
    steps: ["install", "commit"],
    outcomes: [
      WAITING + REBOOT,
      "error NOT_REBOOTED: the new system is not running yet: reboot into it",
    ],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit #ArtifactCommit ` +
      "ArtifactCommit_Enter ArtifactCommit ArtifactCommit_Error #BeforeArtifactCommit",
  },
  {
    name: "ArtifactRollback fails: ArtifactFailure still runs",
    spec: { ...rootfsLike, fails: ["ArtifactInstall", "ArtifactRollback"] },
    steps: ["install"],
    outcomes: ["error MODULE_FAILED: ArtifactInstall failed (as told); the update was abandoned"],
    log: `${DOWNLOAD} #ArtifactInstall ArtifactInstall_Enter ArtifactInstall ` +
      "ArtifactInstall_Error SupportsRollback #ArtifactRollback ArtifactRollback_Enter " +
      `ArtifactRollback ${FAILURE} ${CLEANUP}`,
  },
  {
    name: "ArtifactFailure fails: Cleanup still runs",
    spec: { ...scriptLike, fails: ["ArtifactInstall", "ArtifactFailure"] },
    steps: ["install"],
    outcomes: ["error MODULE_FAILED: ArtifactInstall failed (as told); the update was abandoned"],
    log: `${DOWNLOAD} #ArtifactInstall ArtifactInstall_Enter ArtifactInstall ` +
      "ArtifactInstall_Error SupportsRollback #ArtifactFailure ArtifactFailure_Enter " +
      `ArtifactFailure ${CLEANUP}`,
  },
  {
    name: "Download_Enter fails: Download_Error, Cleanup",
    spec: rootfsLike,
    failScripts: ["Download_Enter"],
    steps: ["install"],
    outcomes: ["error SCRIPT_FAILED: state script Download_Enter_00 failed; nothing was installed"],
    log: `#Download Download_Enter! Download_Error ${CLEANUP}`,
  },
  {
    name: "ArtifactInstall_Leave fails: rolled back",
    spec: rootfsLike,
    failScripts: ["ArtifactInstall_Leave"],
    steps: ["install"],
    outcomes: [
      "error SCRIPT_FAILED: state script ArtifactInstall_Leave_00 failed; the update was rolled back",
    ],
    log: `${DOWNLOAD} #ArtifactInstall ArtifactInstall_Enter ArtifactInstall ` +
      `ArtifactInstall_Leave! ArtifactInstall_Error SupportsRollback ${ROLLBACK} ${FAILURE} ${CLEANUP}`,
  },
  {
    name: "ArtifactCommit_Enter fails: ArtifactCommit_Error, rolled back",
    spec: rootfsLike,
    failScripts: ["ArtifactCommit_Enter"],
    steps: ["install", "commit"],
    outcomes: [
      WAITING + REBOOT,
      "error SCRIPT_FAILED: state script ArtifactCommit_Enter_00 failed; the update was rolled back",
    ],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit #ArtifactCommit ` +
      `ArtifactCommit_Enter! ArtifactCommit_Error ${ROLLBACK} ${FAILURE} ${CLEANUP}`,
  },
  {
    name: "ArtifactCommit_Leave fails: committed, but the post-commit step failed",
    spec: rootfsLike,
    failScripts: ["ArtifactCommit_Leave"],
    steps: ["install", "commit"],
    outcomes: [WAITING + REBOOT, "1 Committed. / One or more post-commit steps failed."],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit #ArtifactCommit ` +
      "ArtifactCommit_Enter ArtifactCommit #ArtifactCommitLeave ArtifactCommit_Leave! " +
      `ArtifactCommit_Error ${CLEANUP}`,
  },
  {
    name: "failing rollback and failure scripts are only logged",
    spec: { ...rootfsLike, fails: ["ArtifactInstall"] },
    failScripts: ["ArtifactRollback_Enter", "ArtifactFailure_Leave"],
    steps: ["install"],
    outcomes: ["error MODULE_FAILED: ArtifactInstall failed (as told); the update was rolled back"],
    log: `${DOWNLOAD} #ArtifactInstall ArtifactInstall_Enter ArtifactInstall ` +
      "ArtifactInstall_Error SupportsRollback #ArtifactRollback ArtifactRollback_Enter! " +
      "ArtifactRollback ArtifactRollback_Leave #ArtifactFailure ArtifactFailure_Enter " +
      `ArtifactFailure ArtifactFailure_Leave! ${CLEANUP}`,
  },
  {
    name: "--stop-before ArtifactInstall, again (no change), then resume",
    spec: rootfsLike,
    steps: [
      "install --stop-before ArtifactInstall_Enter",
      "resume --stop-before ArtifactInstall",
      "commit",
      "resume",
    ],
    outcomes: [
      "0 Stopped before ArtifactInstall_Enter. Use 'resume' to continue.",
      "0 Stopped before ArtifactInstall_Enter. Use 'resume' to continue.",
      "error COMMIT_IMPOSSIBLE: cannot commit: the update waits in Before_ArtifactInstall_Enter; " +
      "'resume' continues it, 'rollback' abandons it",
      WAITING + REBOOT,
    ],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit`,
  },
  {
    name: "--stop-before ArtifactCommit stops an immediate commit; resume commits",
    spec: scriptLike,
    steps: ["install --stop-before ArtifactCommit", "resume"],
    outcomes: ["0 Stopped before ArtifactCommit_Enter. Use 'resume' to continue.", "0 Committed."],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit ${COMMIT}`,
  },
  {
    name: "a second install while one waits is refused",
    spec: rootfsLike,
    steps: ["install", "install"],
    outcomes: [
      WAITING + REBOOT,
      "error UPDATE_IN_PROGRESS: update release-2 is already in progress " +
      "(Before_ArtifactCommit_Enter); commit or roll it back first",
    ],
    log: `${DOWNLOAD} ${INSTALL} ${QUERIES} #BeforeArtifactCommit`,
  },
  {
    name: "daemon: no reboot; statuses on entry, the report at the end",
    spec: directoryLike,
    steps: ["begin"],
    log: `status:downloading ${DOWNLOAD} status:installing ${INSTALL} ${QUERIES} ` +
      `#BeforeArtifactCommit status:installing ${COMMIT} report:success`,
  },
  {
    name: "daemon: the system reboots, the daemon resumes at boot in ArtifactVerifyReboot",
    spec: rootfsLike,
    steps: ["begin", "boot"],
    log: `status:downloading ${DOWNLOAD} status:installing ${INSTALL} ${QUERIES} ` +
      "status:rebooting #ArtifactReboot ArtifactReboot_Enter reboot " +
      "#ArtifactVerifyReboot ArtifactVerifyReboot ArtifactReboot_Leave #BeforeArtifactCommit " +
      `status:installing ${COMMIT} report:success`,
  },
  {
    name: "daemon: the module reboots its device itself (Yes)",
    spec: { needsReboot: "Yes", supportsRollback: true },
    steps: ["begin"],
    log: `status:downloading ${DOWNLOAD} status:installing ${INSTALL} ${QUERIES} ` +
      "status:rebooting #ArtifactReboot ArtifactReboot_Enter ArtifactReboot " +
      "#ArtifactVerifyReboot ArtifactVerifyReboot ArtifactReboot_Leave #BeforeArtifactCommit " +
      `status:installing ${COMMIT} report:success`,
  },
  {
    name: "daemon: the new system fails verification: rollback, rollback reboot, failure",
    spec: { ...rootfsLike, fails: ["ArtifactVerifyReboot"] },
    steps: ["begin", "boot", "boot"],
    log: `status:downloading ${DOWNLOAD} status:installing ${INSTALL} ${QUERIES} ` +
      "status:rebooting #ArtifactReboot ArtifactReboot_Enter reboot " +
      `#ArtifactVerifyReboot ArtifactVerifyReboot ArtifactReboot_Error ${ROLLBACK} ` +
      "#ArtifactRollbackReboot ArtifactRollbackReboot_Enter reboot " +
      "#ArtifactVerifyRollbackReboot ArtifactVerifyRollbackReboot ArtifactRollbackReboot_Leave " +
      `${FAILURE} ${CLEANUP} report:failure`,
  },
  {
    name: "daemon: ArtifactReboot fails; the rollback reboot is retried until verified",
    spec: {
      needsReboot: "Yes",
      supportsRollback: true,
      fails: ["ArtifactReboot"],
      failOnce: ["ArtifactVerifyRollbackReboot"],
    },
    failScripts: ["ArtifactReboot_Enter"],
    steps: ["begin"],
    log: `status:downloading ${DOWNLOAD} status:installing ${INSTALL} ${QUERIES} ` +
      "status:rebooting #ArtifactReboot ArtifactReboot_Enter! ArtifactReboot_Error " +
      `${ROLLBACK} #ArtifactRollbackReboot ArtifactRollbackReboot_Enter ArtifactRollbackReboot ` +
      "#ArtifactVerifyRollbackReboot ArtifactVerifyRollbackReboot " +
      "#ArtifactRollbackReboot ArtifactRollbackReboot_Enter ArtifactRollbackReboot " +
      "#ArtifactVerifyRollbackReboot ArtifactVerifyRollbackReboot ArtifactRollbackReboot_Leave " +
      `${FAILURE} ${CLEANUP} report:failure`,
  },
  {
    name: "daemon: aborted while downloading: nothing was installed",
    spec: rootfsLike,
    abortAt: "downloading",
    steps: ["begin"],
    log: `status:downloading ${CLEANUP} report:failure`,
  },
  {
    name: "daemon: aborted before installing: cleaned up",
    spec: rootfsLike,
    abortAt: "installing",
    steps: ["begin"],
    log: `status:downloading ${DOWNLOAD} status:installing ${CLEANUP} report:failure`,
  },
  {
    name: "daemon: aborted before the reboot or the commit: the rollback path",
    spec: { needsReboot: "Yes", supportsRollback: true },
    abortAt: "rebooting",
    steps: ["begin"],
    log: `status:downloading ${DOWNLOAD} status:installing ${INSTALL} ${QUERIES} ` +
      `status:rebooting ${ROLLBACK} #ArtifactRollbackReboot ArtifactRollbackReboot_Enter ` +
      "ArtifactRollbackReboot #ArtifactVerifyRollbackReboot ArtifactVerifyRollbackReboot " +
      `ArtifactRollbackReboot_Leave ${FAILURE} ${CLEANUP} report:failure`,
  },
  {
    name: "daemon: the commit's status report cannot reach the server: the rollback path",
    spec: directoryLike,
    abortAt: "!installing@2",
    steps: ["begin"],
    log: `status:downloading ${DOWNLOAD} status:installing ${INSTALL} ${QUERIES} ` +
      `#BeforeArtifactCommit status:installing ${ROLLBACK} ${FAILURE} ${CLEANUP} report:failure`,
  },
  {
    name: "daemon: aborted at the commit's status report",
    spec: directoryLike,
    abortAt: "installing@2",
    steps: ["begin"],
    log: `status:downloading ${DOWNLOAD} status:installing ${INSTALL} ${QUERIES} ` +
      `#BeforeArtifactCommit status:installing ${ROLLBACK} ${FAILURE} ${CLEANUP} report:failure`,
  },
];

for (const c of cases) {
  Deno.test(`machine: ${c.name}`, async () => {
    await using k = await kit();
    const outcomes: string[] = [];
    for (const step of c.steps) {
      const engine = k.engine({ spec: c.spec, failScripts: c.failScripts });
      if (step === "begin" || step === "boot") await daemonStep(k, engine, step, c.abortAt);
      else outcomes.push(await command(k, engine, step));
    }
    assertEquals(line(k.log), c.log);
    if (c.outcomes) assertEquals(outcomes, c.outcomes);
  });
}
