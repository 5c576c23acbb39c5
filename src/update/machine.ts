/**
 * The life of one update as one transition table: every state, the action it runs, the events
 * that leave it and the state each one leads to, what a restart after a power cut does there,
 * and where an update can pause. driver.ts walks it: it records the state in the store before
 * the state acts (record, then act), runs the state's scripts around the action, and looks the
 * next state up here. Which scripts run where, the order of module calls and the standalone
 * pauses are Mender 3.4's; the reboot states follow Mender 4's daemon.
 *
 * Whoever drives the machine supplies a Host. `ota install` and a daemon differ only in what
 * their host can do, never in a flag:
 * - standalone (standalone.ts): no status, no reboot. After ArtifactInstall the update waits
 *   at BeforeArtifactCommit for a person, who reboots and sends `commit` or `rollback`; the
 *   reboot states are never entered, so their scripts never run (as in Mender 3.4).
 * - a daemon: `status` reports downloading / installing / rebooting on arrival at a state and
 *   answers "aborted" for a 409, which takes the state's `abort` event; `reboot` reboots the
 *   system, the process dies, and at boot `restart` continues in ArtifactVerifyReboot (or
 *   ArtifactVerifyRollbackReboot); `finished` gets success or failure after the driver wrote
 *   it to the store (store.report) in the write that ends the update, so a crash cannot lose
 *   it; the daemon removes it once sent (driver.ts clearReport). Its source is the
 *   deployment's URL and its id the deployment's (begin.ts takes any Source and id);
 *   "already-installed" is reported by beginUpdate before any state is entered. Sync and Idle
 *   scripts lie outside an update's life: idle_sync.ts.
 * Entry points: beginUpdate (begin.ts: a new update from a source), and in driver.ts restart
 * (after a power cut or a reboot, by each state's rule below) and deliver (an event from
 * outside: continue, commit, rollback, abort), each with --stop-before points (stop_before.ts).
 * A restart leaves an update at a pause where it is: there a person continues it, or a
 * daemon, which holds nothing, delivers `continue`.
 */
import type { ScriptState } from "../artifact/names.ts";
import { commitInstalled } from "../device/identity.ts";
import type { Report, StoreData, UpdateRecord, UpdateState } from "../device/store.ts";
import { type ErrorCode, fail } from "../errors.ts";
import type { HandlerContext, PayloadHandler } from "../handlers/handler.ts";
import type { Engine } from "./context.ts";
import { downloadArtifact, type Reading } from "./download.ts";
import type { StopPoint } from "./stop_before.ts";

export type StateName =
  | "Download"
  | "BeforeArtifactInstall"
  | "ArtifactInstall"
  | "InstallQuery"
  | "ArtifactReboot"
  | "ArtifactVerifyReboot"
  | "BeforeArtifactCommit"
  | "ArtifactCommit"
  | "ArtifactCommitLeave"
  | "RollbackQuery"
  | "ArtifactRollback"
  | "RollbackRebootQuery"
  | "ArtifactRollbackReboot"
  | "ArtifactVerifyRollbackReboot"
  | "AfterRollback"
  | "ArtifactFailure"
  | "Cleanup"
  | "Done";

/** Events from outside the machine: a person's command, or the server. */
export type OutsideEvent = "continue" | "commit" | "rollback" | "abort";
export type Event =
  | OutsideEvent
  | "success"
  | "failure"
  | "notRebooted" // ArtifactCommit refused: the new system does not run yet
  | "reboot" // the host reboots (a daemon)
  | "installed" // installed; a person reboots or commits (standalone), or nothing to reboot
  | "supported" // the handler can roll back
  | "unsupported"
  | "failed" // after a rollback: the update had failed
  | "reverted" // after a rollback: a person asked for it, nothing failed
  | "retry";

export type DeploymentStatus = "downloading" | "installing" | "rebooting" | "already-installed";

export interface Host {
  /**
   * Reported on arrival at `state`, before it is recorded: "aborted" (the server's 409) takes
   * the state's `abort` event, "unreachable" (a report that had to arrive did not) its
   * `failure` event. An error thrown here leaves the update recorded where it stood.
   */
  status?(
    status: DeploymentStatus,
    record?: UpdateRecord,
    state?: StateName,
  ): Promise<"aborted" | "unreachable" | void>;
  /** Reboots the system; never returns normally. Without it the reboot states are never entered. */
  reboot?(): Promise<never>;
  /** Keeps the update at a pause for an outside event (checked on arrival only). */
  holds?(pause: StateName, record: UpdateRecord): boolean;
  /** The update ended; the report is in the store already. */
  finished?(report: Report): Promise<void>;
}

/** What a state's action works with. */
export interface Run {
  engine: Engine;
  host: Host;
  store: StoreData;
  record: UpdateRecord;
  handler: PayloadHandler;
  ctx: HandlerContext;
  /** The update's log file. */
  logPath: string;
  /** The artifact being read: only in the process that began the update. */
  reading?: Reading;
}

interface Scripts {
  enter?: ScriptState;
  /** Run only when the action succeeded. */
  leave?: ScriptState;
  /** Run when the action or a script failed, before the failure event is taken. */
  error?: ScriptState;
  /** Failing Enter/Leave scripts are logged, not fatal (the rollback and failure states). */
  tolerant?: true;
}

type Transitions = Partial<Record<Event, StateName>>;

export interface Step {
  kind: "step";
  /** Written to the store before the state acts. */
  record: UpdateState;
  scripts?: Scripts;
  /** Reported on arrival, before the state is recorded. */
  status?: DeploymentStatus;
  act(run: Run): Promise<Event | void>;
  on: Transitions;
  /** After a power cut here: act again, or take the success or failure event. */
  restart: {
    take: "resume" | "success" | "failure";
    /** Logged at the restart. */
    note?: (record: UpdateRecord) => string;
    /** With "failure": what went wrong. */
    error?: string;
  };
  /**
   * The --stop-before points that stop here, once the state is recorded and before it acts
   * (Mender 5 records the state, then exits): the update then waits here as at a pause.
   */
  stopBefore?: StopPoint[];
  /** Errors with these codes take their own event (after the Error scripts), not a failure. */
  refusals?: Partial<Record<ErrorCode, Event>>;
  /** Prefix of the logged error when the state fails. */
  failureNote?: string;
}

/** Decides between events; not recorded (a restart finds the state before it). */
export interface Choice {
  kind: "choice";
  scripts?: Scripts;
  act(run: Run): Promise<Event>;
  on: Transitions;
}

/** Where an update can wait: recorded; left by `continue` or another outside event. */
export interface Pause {
  kind: "pause";
  record: UpdateState;
  /** The --stop-before points that stop here. */
  stopBefore: StopPoint[];
  on: Transitions;
}

export interface End {
  kind: "end";
}

export type Row = Step | Choice | Pause | End;

const noop = () => Promise.resolve();
const rolledBack = () => "An interrupted rollback is finished";

export const machine: Record<StateName, Row> = {
  Download: {
    kind: "step",
    record: "Download_Enter",
    scripts: { enter: "Download", leave: "Download", error: "Download" },
    status: "downloading",
    act: (run) => downloadArtifact(run.reading, run.handler, run.ctx, run.engine.paths.dataDir),
    on: { success: "BeforeArtifactInstall", failure: "Cleanup", abort: "Cleanup" },
    restart: {
      take: "failure",
      error: "the download was interrupted",
      note: (r) =>
        `An interrupted download of ${r.headerInfo.artifact_provides.artifact_name} is cleaned up`,
    },
  },
  BeforeArtifactInstall: {
    kind: "pause",
    record: "Before_ArtifactInstall_Enter",
    stopBefore: ["ArtifactInstall_Enter"],
    on: { continue: "ArtifactInstall", rollback: "RollbackQuery", abort: "Cleanup" },
  },
  ArtifactInstall: {
    kind: "step",
    record: "ArtifactInstall_Enter",
    scripts: { enter: "ArtifactInstall", leave: "ArtifactInstall", error: "ArtifactInstall" },
    status: "installing",
    act: (run) => run.handler.install(run.ctx),
    on: {
      success: "InstallQuery",
      failure: "RollbackQuery",
      abort: "Cleanup",
      rollback: "RollbackQuery",
    },
    restart: {
      take: "failure",
      error: "the installation was interrupted",
      note: () => "An interrupted installation takes the rollback path",
    },
  },
  InstallQuery: {
    kind: "choice",
    scripts: { error: "ArtifactInstall" },
    async act({ handler, ctx, record, host }) {
      record.needsReboot = await handler.needsReboot(ctx);
      record.supportsRollback = await handler.supportsRollback(ctx);
      return host.reboot && record.needsReboot !== "No" ? "reboot" : "installed";
    },
    on: { reboot: "ArtifactReboot", installed: "BeforeArtifactCommit", failure: "RollbackQuery" },
  },
  ArtifactReboot: {
    kind: "step",
    record: "ArtifactReboot_Enter",
    scripts: { enter: "ArtifactReboot", error: "ArtifactReboot" },
    status: "rebooting",
    act: (run) => reboot(run, () => run.handler.reboot(run.ctx)),
    on: {
      success: "ArtifactVerifyReboot",
      failure: "RollbackQuery",
      abort: "RollbackQuery",
      rollback: "RollbackQuery",
    },
    restart: { take: "success", note: () => "Back after the reboot: verifying the update" },
  },
  ArtifactVerifyReboot: {
    kind: "step",
    record: "ArtifactVerifyReboot",
    scripts: { leave: "ArtifactReboot", error: "ArtifactReboot" },
    act: (run) => run.handler.verifyReboot(run.ctx),
    on: { success: "BeforeArtifactCommit", failure: "RollbackQuery", rollback: "RollbackQuery" },
    restart: { take: "failure", error: "the device restarted while the update was verified" },
  },
  BeforeArtifactCommit: {
    kind: "pause",
    record: "Before_ArtifactCommit_Enter",
    stopBefore: ["ArtifactCommit_Enter", "ArtifactReboot_Enter"],
    on: {
      continue: "ArtifactCommit",
      commit: "ArtifactCommit",
      rollback: "RollbackQuery",
      abort: "RollbackQuery",
    },
  },
  ArtifactCommit: {
    kind: "step",
    record: "ArtifactCommit_Enter",
    scripts: { enter: "ArtifactCommit", error: "ArtifactCommit" },
    status: "installing",
    async act({ handler, ctx, store, record }) {
      await handler.commit(ctx);
      // saved with the record of ArtifactCommitLeave: name and state change in one write
      commitInstalled(store, record.headerInfo, record.payloads);
    },
    refusals: { NOT_REBOOTED: "notRebooted" },
    on: {
      success: "ArtifactCommitLeave",
      failure: "RollbackQuery",
      notRebooted: "BeforeArtifactCommit",
      abort: "RollbackQuery",
      commit: "ArtifactCommit",
      rollback: "RollbackQuery",
    },
    restart: { take: "resume", note: () => "An interrupted commit is done again" },
  },
  ArtifactCommitLeave: {
    kind: "step",
    record: "ArtifactCommit_Leave",
    scripts: { leave: "ArtifactCommit", error: "ArtifactCommit" },
    stopBefore: ["ArtifactCommit_Leave"],
    act: noop,
    on: { success: "Cleanup", failure: "Cleanup", commit: "ArtifactCommitLeave" },
    restart: { take: "resume" },
  },
  RollbackQuery: {
    kind: "choice",
    async act({ handler, ctx, record }) {
      record.supportsRollback ??= await handler.supportsRollback(ctx).catch(() => false);
      return record.supportsRollback ? "supported" : "unsupported";
    },
    on: { supported: "ArtifactRollback", unsupported: "ArtifactFailure" },
  },
  ArtifactRollback: {
    kind: "step",
    record: "ArtifactRollback_Enter",
    scripts: { enter: "ArtifactRollback", leave: "ArtifactRollback", tolerant: true },
    stopBefore: ["ArtifactRollback_Enter"],
    async act(run) {
      await run.handler.rollback(run.ctx);
      run.record.rolledBack = true; // saved with the next state
    },
    on: { success: "RollbackRebootQuery", failure: "ArtifactFailure", rollback: "RollbackQuery" },
    restart: { take: "resume", note: rolledBack },
    failureNote: "Rollback failed",
  },
  RollbackRebootQuery: {
    kind: "choice",
    async act({ handler, ctx, record, host }) {
      if (!host.reboot) return "installed";
      record.needsReboot ??= await handler.needsReboot(ctx);
      return record.needsReboot === "No" ? "installed" : "reboot";
    },
    on: { reboot: "ArtifactRollbackReboot", installed: "AfterRollback" },
  },
  ArtifactRollbackReboot: {
    kind: "step",
    record: "ArtifactRollbackReboot_Enter",
    scripts: { enter: "ArtifactRollbackReboot", tolerant: true },
    // errors do not matter as long as the verification after it succeeds (Mender's rule)
    act: (run) =>
      reboot(run, () => run.handler.rollbackReboot(run.ctx)).catch((error) => {
        run.engine.log.error(`Rollback reboot: ${(error as Error).message}`);
      }),
    on: { success: "ArtifactVerifyRollbackReboot", failure: "ArtifactVerifyRollbackReboot" },
    restart: { take: "success" },
  },
  ArtifactVerifyRollbackReboot: {
    kind: "step",
    record: "ArtifactVerifyRollbackReboot",
    scripts: { leave: "ArtifactRollbackReboot", tolerant: true },
    act: (run) =>
      run.handler.verifyRollbackReboot(run.ctx).then(() => undefined, (error) => {
        run.engine.log.error(`The previous system is not back yet: ${(error as Error).message}`);
        return "retry";
      }),
    // retries end through the driver's guard against endless restarts (failure)
    on: { success: "AfterRollback", retry: "ArtifactRollbackReboot", failure: "ArtifactFailure" },
    restart: { take: "resume", note: rolledBack },
  },
  AfterRollback: {
    kind: "choice",
    act: ({ record }) => Promise.resolve(record.failed ? "failed" : "reverted"),
    // a rollback a person asked for is no failure: Mender 3.4 runs no ArtifactFailure then
    on: { failed: "ArtifactFailure", reverted: "Cleanup" },
  },
  ArtifactFailure: {
    kind: "step",
    record: "ArtifactFailure_Enter",
    scripts: { enter: "ArtifactFailure", leave: "ArtifactFailure", tolerant: true },
    stopBefore: ["ArtifactFailure_Enter"],
    act: (run) => run.handler.failure(run.ctx),
    on: { success: "Cleanup", failure: "Cleanup", rollback: "RollbackQuery" },
    restart: { take: "resume", note: rolledBack },
    failureNote: "ArtifactFailure failed",
  },
  Cleanup: {
    kind: "step",
    record: "Cleanup",
    stopBefore: ["Cleanup"],
    act: (run) =>
      run.handler.cleanup(run.ctx).catch((error) => {
        run.engine.log.error(`Cleanup failed: ${(error as Error).message}`);
      }),
    // failure: only when the driver gives up on endless restarts
    on: { success: "Done", failure: "Done" },
    restart: { take: "resume" },
  },
  Done: { kind: "end" },
};

/** The module reboots its device ("Yes"), or the host reboots the system ("Automatic"). */
async function reboot(run: Run, moduleReboot: () => Promise<void>): Promise<void> {
  if (!run.host.reboot) fail("INTERNAL", "a reboot state was entered without a way to reboot");
  const how = run.record.needsReboot ?? await run.handler.needsReboot(run.ctx);
  if (how === "Yes") return await moduleReboot();
  await run.host.reboot();
}

/** The state recorded under `name`, looked up in the table (the store keeps Mender's names). */
export function stateRecordedAs(name: UpdateState): StateName {
  for (const [state, row] of Object.entries(machine) as [StateName, Row][]) {
    if ((row.kind === "step" || row.kind === "pause") && row.record === name) return state;
  }
  return fail("STORE_CORRUPT", `no state is recorded as ${name}`);
}
