/**
 * Standalone mode, as Mender's `install`, `commit`, `rollback` and `resume`: bytes stream
 * from the source through verification into the payload's handler; the bootloader (or the
 * module) is switched only after every checksum matched.
 */
import { randomUUID } from "node:crypto";
import { openArtifact } from "../artifact/reader.ts";
import type { PayloadFile } from "../artifact/payload.ts";
import { requireCompatible } from "../device/provides.ts";
import { pausedStates, type StoreData } from "../device/store.ts";
import { ExitCode, fail, OtaError } from "../errors.ts";
import { counting } from "../streams.ts";
import {
  deviceIdentity,
  type Engine,
  loadStore,
  persist,
  sourceOptions,
  verifyKeys,
} from "./engine.ts";
import {
  commitStep,
  downloadFailed,
  enter,
  errorPath,
  installStep,
  openRun,
  type Outcome,
  recover,
  type Run,
  Stopped,
} from "./machine.ts";
import { storeArtifactScripts } from "./scripts.ts";
import { openSource, type Source } from "./source.ts";

export interface InstallOptions {
  /** Pause before this state (Mender 4's --stop-before); `resume` continues. */
  stopBefore?: string;
  /** Exit 4 when a reboot is needed (Mender's --reboot-exit-code). */
  rebootExitCode?: boolean;
  /** An already opened source (peers on the LAN: src/peers/install_source.ts) instead of the URI. */
  source?: Source;
  /** Wraps the source before it is read (keeping a copy for peers). */
  wrapSource?: (source: Source) => Promise<Source>;
}

const nothingInProgress = (): Outcome => ({
  exitCode: ExitCode.nothingInProgress,
  messages: ["No update in progress."],
});

function stopped(error: Stopped): Outcome {
  return {
    exitCode: ExitCode.ok,
    messages: [`Stopped before ${error.state}. Use 'resume' to continue.`],
  };
}

/** Recovers an interrupted update first; returns the outcome if that ended the update. */
async function settle(engine: Engine, store: StoreData): Promise<Outcome | undefined> {
  if (!store.update || pausedStates.includes(store.update.state)) return undefined;
  return await recover(await openRun(engine, store));
}

export async function install(
  engine: Engine,
  uri: string,
  options: InstallOptions = {},
): Promise<Outcome> {
  const store = await loadStore(engine.paths.dataDir);
  const recovered = await settle(engine, store);
  if (recovered) engine.log.info(recovered.messages.join(" "));
  if (store.update) {
    fail(
      "UPDATE_IN_PROGRESS",
      `update ${store.update.headerInfo.artifact_provides.artifact_name} is already in progress (${store.update.state}); commit or roll it back first`,
    );
  }
  const device = await deviceIdentity(engine, store);
  const keys = await verifyKeys(engine);
  const opened = options.source ?? await openSource(uri, await sourceOptions(engine));
  const source = options.wrapSource ? await options.wrapSource(opened) : opened;
  engine.log.info(
    `Installing artifact from ${source.name}${source.size ? ` (${source.size} bytes)` : ""}`,
  );
  engine.progress.step("download", source.size ?? 0);
  const artifact = await openArtifact(
    counting(source.stream, (n) => engine.progress.update(n)),
    { verifyKeys: keys },
  );
  let run: Run | undefined;
  try {
    requireCompatible(artifact.header, device);
    const payload = artifact.header.payloads[0];
    if (payload === undefined || artifact.header.payloads.length !== 1) {
      fail("ARTIFACT_STRUCTURE", "the artifact has no payload");
    }
    await engine.handlerFor(payload.type); // a missing Update Module fails here, before anything changes
    store.update = {
      id: randomUUID(),
      state: "Download_Enter",
      startedAt: new Date().toISOString(),
      source: source.name,
      headerInfo: artifact.header.info,
      payloads: artifact.header.payloads.map((p) => ({ type: p.type, typeInfo: p.typeInfo })),
      failed: false,
    };
    await persist(engine, store);
    run = await openRun(engine, store, options.stopBefore);
    engine.log.info(
      `Update ${store.update.id}: ${artifact.header.info.artifact_provides.artifact_name}`,
    );
    await storeArtifactScripts(engine.paths.dataDir, artifact.header.scripts);
    await download(run, artifact);
  } catch (error) {
    engine.progress.done();
    await artifact.cancel(error);
    if (!run) throw error;
    await run.engine.scripts.run("Download", "Error", { ignoreErrors: true });
    return await downloadFailed(run, error);
  }
  engine.progress.done();
  return await afterDownload(run, options);
}

async function download(
  run: Run,
  artifact: Awaited<ReturnType<typeof openArtifact>>,
): Promise<void> {
  await run.engine.scripts.run("Download", "Enter");
  const payloads = artifact.payloads();
  const first = await payloads.next();
  const files: AsyncIterable<PayloadFile> = first.done
    ? (async function* () {})()
    : first.value.files();
  await run.handler.download(files, {
    ...run.ctx,
    header: artifact.header,
    payload: artifact.header.payloads[0]!, // exactly one, checked before the download
    headerInfoBytes: artifact.header.infoBytes,
  });
  await payloads.return(undefined);
  await artifact.finish();
  await run.engine.scripts.run("Download", "Leave");
}

async function afterDownload(run: Run, options: InstallOptions): Promise<Outcome> {
  const record = run.store.update!;
  try {
    await installStep(run);
  } catch (error) {
    if (error instanceof Stopped) return stopped(error);
    return await errorPath(run, error);
  }
  if (record.payloads[0]?.type === null) {
    const outcome = await commitStep(run);
    return {
      ...outcome,
      messages: ["Artifact with empty payload. Committing immediately.", ...outcome.messages],
    };
  }
  if (record.needsReboot === "No" && !record.supportsRollback) {
    const outcome = await commitStep(run).catch((error) => {
      if (error instanceof Stopped) return stopped(error);
      throw error;
    });
    return {
      ...outcome,
      messages: [
        "Update Module doesn't support rollback. Committing immediately.",
        ...outcome.messages,
      ],
    };
  }
  try {
    await enter(run, "Before_ArtifactCommit_Enter");
  } catch (error) {
    if (error instanceof Stopped) return stopped(error);
    throw error;
  }
  const messages = [
    "Installed, but not committed.",
    "Use 'commit' to update, or 'rollback' to roll back the update.",
  ];
  if (record.needsReboot !== "No") {
    messages.push("At least one payload requested a reboot of the device it updated.");
    if (options.rebootExitCode) return { exitCode: ExitCode.rebootRequired, messages };
  }
  return { exitCode: ExitCode.ok, messages };
}

export async function commit(engine: Engine, options: InstallOptions = {}): Promise<Outcome> {
  const store = await loadStore(engine.paths.dataDir);
  if (!store.update) return nothingInProgress();
  const run = await openRun(engine, store, options.stopBefore);
  const state = store.update.state;
  if (state === "Before_ArtifactCommit_Enter" || state === "ArtifactCommit_Enter") {
    return await commitStep(run).catch((error) => {
      if (error instanceof Stopped) return stopped(error);
      throw error;
    });
  }
  const recovered = await recover(run);
  if (recovered) {
    if (recovered.exitCode === ExitCode.ok && state === "ArtifactCommit_Leave") return recovered;
    fail(
      "COMMIT_IMPOSSIBLE",
      `cannot commit: the update was interrupted in ${state} and was ${
        recovered.messages.join(" ")
      }`,
    );
  }
  return nothingInProgress();
}

export async function rollback(engine: Engine): Promise<Outcome> {
  const store = await loadStore(engine.paths.dataDir);
  if (!store.update) return nothingInProgress();
  const run = await openRun(engine, store);
  const state = store.update.state;
  if (state === "ArtifactCommit_Leave" || state === "Cleanup") {
    await recover(run);
    fail(
      "ROLLBACK_IMPOSSIBLE",
      "the update was already committed; install the previous artifact to go back",
    );
  }
  if (state === "Download_Enter") return await recover(run) ?? nothingInProgress();
  return await errorPath(run, new OtaError("ROLLED_BACK_BY_USER", "rolled back on request"), true);
}

/** Continues an update stopped with --stop-before, or recovers an interrupted one. */
export async function resume(engine: Engine, options: InstallOptions = {}): Promise<Outcome> {
  const store = await loadStore(engine.paths.dataDir);
  if (!store.update) return nothingInProgress();
  const run = await openRun(engine, store, options.stopBefore);
  const state = store.update.state;
  try {
    switch (state) {
      case "Before_ArtifactInstall_Enter":
        return await afterDownload(run, options);
      case "Before_ArtifactCommit_Enter":
        return await commitStep(run);
      default:
        return await recover(run) ?? nothingInProgress();
    }
  } catch (error) {
    if (error instanceof Stopped) return stopped(error);
    throw error;
  }
}
