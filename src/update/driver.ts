/**
 * The driver of the transition table (machine.ts). For each state it records the state in
 * the store (one atomic write) before the state acts, runs the state's Enter script, action
 * and Leave script, turns a failure into the state's Error scripts and its `failure` event,
 * and takes the transition the table names. Pausing is decided here only: at a pause point
 * the run stops when its --stop-before names it, when a state refused (the update waits
 * where it was) or when the host holds it for a person; otherwise it continues. A step that
 * a --stop-before names is recorded (marked stopped) and left before it acts: the update
 * waits there as at a pause, until `resume` delivers `continue`, which runs that step.
 *
 * A run begins in one of three ways: beginUpdate (begin.ts) at Download; `restart` after a
 * power cut or a reboot, by the interrupted state's rule; `deliver`, an event from outside
 * taken from the recorded state. The store's write counter guards against endless restarts:
 * past MAX_STATE_WRITES every state that can fail takes its failure event without acting.
 */
import {
  MAX_STATE_WRITES,
  type Report,
  type StoreData,
  type UpdateRecord,
  type UpdateState,
} from "../device/store.ts";
import { fail, OtaError } from "../errors.ts";
import type { Engine } from "./context.ts";
import { handlerContext } from "./context.ts";
import type { Reading } from "./download.ts";
import {
  type Choice,
  type Event,
  type Host,
  machine,
  type OutsideEvent,
  type Pause,
  type Row,
  type Run,
  type StateName,
  stateRecordedAs,
  type Step,
} from "./machine.ts";
import type { StopPoint } from "./stop_before.ts";

export interface RunOptions {
  /** Stop before each of these states (Mender 5's --stop-before, repeatable). */
  stopBefore?: StopPoint[];
}

/** One state of a run and the event that left it. */
export interface Walked {
  state: StateName;
  event: Event;
}

export interface RunResult {
  /** The states this run went through, in order, with the events that left them. */
  trail: Walked[];
  /** "Done" (the update is over and its record gone), or the pause where it waits. */
  end: StateName;
  /** Why it waits: the run's --stop-before, a state that refused, or the host. */
  held?: "stopBefore" | "refused" | "host";
  /** The --stop-before point it stopped at. */
  stopBefore?: StopPoint;
  /** The --stop-before point this run went on from (a step where an earlier run stopped). */
  resumedStop?: StopPoint;
  /** The refusal, or the first failure of this run. */
  error?: unknown;
  record: UpdateRecord;
}

const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error);

class Walk {
  readonly trail: Walked[] = [];
  error?: unknown;
  refused = false;
  resumedStop?: StopPoint;
  constructor(readonly run: Run, readonly options: RunOptions) {}

  failed(error: unknown): void {
    const record = this.run.record;
    if (!record.failed) {
      record.failed = true;
      record.error = messageOf(error);
    }
    this.error ??= error;
  }

  result(end: StateName, held?: RunResult["held"], stopBefore?: StopPoint): RunResult {
    return {
      trail: this.trail,
      end,
      held,
      stopBefore,
      resumedStop: this.resumedStop,
      error: this.error,
      record: this.run.record,
    };
  }
}

/** The run of the update recorded in `store` (handler, file tree context, update log). */
export async function openRun(
  engine: Engine,
  host: Host,
  store: StoreData,
  reading?: Reading,
): Promise<Run> {
  const record = store.update ?? fail("INTERNAL", "no update is in progress");
  const handler = await engine.handlerFor(record.payloads[0]?.type ?? null);
  const ctx = await handlerContext(engine, record);
  const logPath = engine.log.openUpdateLog(engine.paths.updateLogDir, record.id);
  return { engine, host, store, record, handler, ctx, logPath, reading };
}

/** Walks from `from` until a pause holds the update or it is done. */
export async function walkFrom(
  run: Run,
  from: StateName,
  options: RunOptions = {},
): Promise<RunResult> {
  return await walk(new Walk(run, options), from);
}

async function walk(w: Walk, from: StateName): Promise<RunResult> {
  let state = from;
  while (true) {
    const row: Row = machine[state];
    let event: Event;
    if (row.kind === "end") {
      await finish(w.run);
      return w.result("Done");
    } else if (row.kind === "pause") {
      await record(w.run, row.record);
      const stop = stopsHere(row, w.options);
      const held = w.refused
        ? "refused"
        : stop
        ? "stopBefore"
        : w.run.host.holds?.(state, w.run.record)
        ? "host"
        : undefined;
      if (held) return w.result(state, held, stop);
      event = "continue";
    } else if (row.kind === "choice") {
      event = await attempt(w, row);
    } else {
      const stop = stopsHere(row, w.options);
      if (stop) {
        await record(w.run, row.record, stop);
        return w.result(state, "stopBefore", stop);
      }
      event = await arrive(w, row, state);
    }
    w.trail.push({ state, event });
    state = next(state, row, event);
  }
}

/** The first of the run's --stop-before points that stops at this row. */
function stopsHere(row: Pause | Step, options: RunOptions): StopPoint | undefined {
  return options.stopBefore?.find((point) => row.stopBefore?.includes(point));
}

function next(state: StateName, row: Row, event: Event): StateName {
  const to = row.kind === "end" ? undefined : row.on[event];
  if (!to) fail("INTERNAL", `the state ${state} has no transition for ${event}`);
  return to;
}

/** Status first (an abort leaves before the state began), then the record, then the action. */
async function arrive(w: Walk, row: Step, state: StateName): Promise<Event> {
  const { run } = w;
  const answer = row.status ? await run.host.status?.(row.status, run.record, state) : undefined;
  if (answer === "aborted") {
    w.failed(new OtaError("DEPLOYMENT_ABORTED", "the server aborted the deployment"));
    return "abort";
  }
  if (answer === "unreachable") {
    const error = new OtaError(
      "SERVER_UNREACHABLE",
      `the server could not be told "${row.status}" before ${state}`,
    );
    run.engine.log.error(error.message);
    w.failed(error);
    return "failure";
  }
  await record(run, row.record);
  if (run.store.writes > MAX_STATE_WRITES && row.on.failure) {
    w.failed(new OtaError("INTERRUPTED", "the update kept restarting; giving up"));
    return "failure";
  }
  return await attempt(w, row);
}

async function attempt(w: Walk, row: Step | Choice): Promise<Event> {
  const { engine } = w.run;
  const scripts = row.scripts ?? {};
  const ignoreErrors = scripts.tolerant === true;
  try {
    if (scripts.enter) await engine.scripts.run(scripts.enter, "Enter", { ignoreErrors });
    const event = (await row.act(w.run)) ?? "success";
    if (event === "success" && scripts.leave) {
      await engine.scripts.run(scripts.leave, "Leave", { ignoreErrors });
    }
    return event;
  } catch (error) {
    const refusal = row.kind === "step" && error instanceof OtaError
      ? row.refusals?.[error.code]
      : undefined;
    if (!refusal) {
      const note = row.kind === "step" && row.failureNote ? `${row.failureNote}: ` : "";
      engine.log.error(`${note}${messageOf(error)}`);
    }
    if (scripts.error) await engine.scripts.run(scripts.error, "Error", { ignoreErrors: true });
    if (refusal) {
      w.refused = true;
      w.error = error;
      return refusal;
    }
    w.failed(error);
    return "failure";
  }
}

/** Record, then act: a power cut after this write finds the state that was under way. */
async function record(run: Run, name: UpdateState, stopped?: StopPoint): Promise<void> {
  run.record.state = name;
  if (stopped) run.record.stoppedBefore = stopped;
  else delete run.record.stoppedBefore;
  run.store.writes += 1;
  await run.engine.save(run.store);
}

/** The update is over: its record goes, with the report for a server in the same write. */
async function finish(run: Run): Promise<void> {
  const { store, record, host, engine } = run;
  const report: Report | undefined = host.finished
    ? {
      id: record.id,
      status: record.failed ? "failure" : "success",
      artifactName: record.headerInfo.artifact_provides.artifact_name,
      log: run.logPath,
    }
    : undefined;
  delete store.update;
  store.writes = 0;
  if (report) store.report = report;
  await engine.save(store);
  engine.log.closeUpdateLog();
  if (report) await host.finished!(report);
}

/**
 * Continues an update that a power cut, a kill or a reboot interrupted, by the rule of the
 * state it was in (machine.ts `restart`). Undefined when nothing was under way: no update,
 * or one that waits at a pause or where a --stop-before stopped it.
 */
export async function restart(
  engine: Engine,
  host: Host,
  store: StoreData,
  options: RunOptions = {},
): Promise<RunResult | undefined> {
  if (!store.update || store.update.stoppedBefore) return undefined;
  const state = stateRecordedAs(store.update.state);
  const row = machine[state];
  if (row.kind !== "step") return undefined;
  const w = new Walk(await openRun(engine, host, store), options);
  const rule = row.restart;
  if (rule.note) engine.log.info(rule.note(w.run.record));
  if (rule.take === "resume") return await walk(w, state);
  if (rule.take === "failure") {
    const error = new OtaError("INTERRUPTED", rule.error ?? "the update was interrupted");
    engine.log.error(error.message);
    w.failed(error);
  }
  w.trail.push({ state, event: rule.take });
  return await walk(w, next(state, row, rule.take));
}

/**
 * An event from outside, taken from the recorded state: `continue` a pause, `commit`,
 * `rollback`, `abort`. Undefined when the state does not take it (then nothing changed).
 * `continue` at a step a --stop-before stopped runs that step. Going on from where the run's
 * --stop-before names stops there again (Mender 5: a second run is a no-op).
 */
export async function deliver(
  engine: Engine,
  host: Host,
  store: StoreData,
  event: OutsideEvent,
  options: RunOptions = {},
): Promise<RunResult | undefined> {
  if (!store.update) return undefined;
  const state = stateRecordedAs(store.update.state);
  const row = machine[state];
  const stopped = row.kind === "step" && event === "continue" && store.update.stoppedBefore;
  const to = stopped
    ? state
    : row.kind === "step" || row.kind === "pause"
    ? row.on[event]
    : undefined;
  if (!to) return undefined;
  const w = new Walk(await openRun(engine, host, store), options);
  if (stopped) {
    w.resumedStop = stopped;
    return await walk(w, state);
  }
  const stop = row.kind === "pause" && row.on[event] === row.on.continue
    ? stopsHere(row, options)
    : undefined;
  if (stop) return w.result(state, "stopBefore", stop);
  if (event === "abort") {
    w.failed(new OtaError("DEPLOYMENT_ABORTED", "the server aborted the deployment"));
  }
  w.trail.push({ state, event });
  return await walk(w, to);
}

/** Removes the report of a finished update once the server has it (managed mode). */
export async function clearReport(engine: Engine, store: StoreData): Promise<void> {
  if (!store.report) return;
  delete store.report;
  await engine.save(store);
}
