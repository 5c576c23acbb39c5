/**
 * Standalone mode, as Mender's `install`, `commit`, `rollback` and `resume`: each command
 * drives the update machine (machine.ts) with a host that cannot reboot, so a person does:
 * an installed update waits at BeforeArtifactCommit whenever there is something to decide
 * (a reboot, or a way back), and commits at once when there is not.
 */
import type { StoreData } from "../device/store.ts";
import { fail, OtaError } from "../errors.ts";
import { beginUpdate } from "./begin.ts";
import type { Engine } from "./context.ts";
import { deliver, restart } from "./driver.ts";
import { type Host, stateRecordedAs } from "./machine.ts";
import { nothingInProgress, type Outcome, render, renderRestart } from "./outcome.ts";
import { openSource, type Source } from "./source.ts";
import { sourceOptions } from "./source_options.ts";
import type { StopPoint } from "./stop_before.ts";

export type { Outcome };

export interface InstallOptions {
  /** Stop before each of these states (Mender 5's --stop-before); `resume` continues. */
  stopBefore?: StopPoint[];
  /** Exit 4 when a reboot is needed (Mender's --reboot-exit-code). */
  rebootExitCode?: boolean;
  /** An already opened source (peers on the LAN: src/peers/install_source.ts) instead of the URI. */
  source?: Source;
  /** Wraps the source before it is read (keeping a copy for peers). */
  wrapSource?: (source: Source) => Promise<Source>;
}

/** A person reboots and decides: an update waits for them when a reboot or a way back exists. */
export const standaloneHost: Host = {
  holds: (pause, record) =>
    pause === "BeforeArtifactCommit" &&
    (record.needsReboot !== "No" || record.supportsRollback === true),
};

/** Finishes an update a power cut interrupted; its outcome goes to the log. */
async function finishInterrupted(engine: Engine, store: StoreData): Promise<void> {
  const finished = await restart(engine, standaloneHost, store);
  if (finished) engine.log.info(renderRestart(finished, engine.log).messages.join(" "));
}

export async function install(
  engine: Engine,
  uri: string,
  options: InstallOptions = {},
): Promise<Outcome> {
  await finishInterrupted(engine, await engine.load());
  const result = await beginUpdate(engine, standaloneHost, {
    async open() {
      // `ota install URL` reads the head by ranges first, so an adaptive artifact's pieces
      // can be fetched alone (the daemon downloads as Mender's client does: one body)
      const opened = options.source ?? await openSource(uri, {
        ...await sourceOptions(engine.config, engine.log),
        adaptive: engine.config.AdaptiveUpdates,
      });
      return options.wrapSource ? await options.wrapSource(opened) : opened;
    },
  }, { stopBefore: options.stopBefore });
  if (result === "already-installed") fail("INTERNAL", "standalone installs do not skip");
  return render(result, engine.log, options);
}

export async function commit(engine: Engine, options: InstallOptions = {}): Promise<Outcome> {
  const store = await engine.load();
  if (!store.update) return nothingInProgress();
  const state = store.update.state;
  const result = await deliver(engine, standaloneHost, store, "commit", {
    stopBefore: options.stopBefore,
  });
  if (result) return render(result, engine.log);
  const finished = await restart(engine, standaloneHost, store);
  fail(
    "COMMIT_IMPOSSIBLE",
    finished
      ? `cannot commit: the update was interrupted in ${state} and was ${
        renderRestart(finished, engine.log).messages.join(" ")
      }`
      : `cannot commit: the update waits in ${state}; 'resume' continues it, 'rollback' abandons it`,
  );
}

export async function rollback(engine: Engine, options: InstallOptions = {}): Promise<Outcome> {
  const store = await engine.load();
  if (!store.update) return nothingInProgress();
  const state = stateRecordedAs(store.update.state);
  const cause = new OtaError("ROLLED_BACK_BY_USER", "rolled back on request");
  const result = await deliver(engine, standaloneHost, store, "rollback", {
    stopBefore: options.stopBefore,
  });
  if (result) return render(result, engine.log, { cause });
  const stopped = store.update.stoppedBefore !== undefined;
  const finished = await restart(engine, standaloneHost, store);
  if (stopped && state === "Cleanup") {
    fail("ROLLBACK_IMPOSSIBLE", "the update waits before its Cleanup; 'resume' finishes it");
  }
  if (state === "ArtifactCommitLeave" || state === "Cleanup") {
    fail(
      "ROLLBACK_IMPOSSIBLE",
      "the update was already committed; install the previous artifact to go back",
    );
  }
  return finished ? renderRestart(finished, engine.log) : nothingInProgress();
}

/** Continues an update stopped with --stop-before, or finishes one a power cut interrupted. */
export async function resume(engine: Engine, options: InstallOptions = {}): Promise<Outcome> {
  const store = await engine.load();
  if (!store.update) return nothingInProgress();
  const runOptions = { stopBefore: options.stopBefore };
  const result = await deliver(engine, standaloneHost, store, "continue", runOptions);
  if (result) return render(result, engine.log, options);
  const finished = await restart(engine, standaloneHost, store, runOptions);
  return finished ? renderRestart(finished, engine.log) : nothingInProgress();
}
