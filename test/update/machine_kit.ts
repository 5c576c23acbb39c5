/**
 * The update machine in process, for its tests: a payload handler and a script runner that
 * only write down what they are asked (and fail where told), the real device store in a
 * temporary directory, a daemon-like host, and one log of everything in order:
 *   `#State`       the machine recorded that state (every write of the store)
 *   `Name_Enter`   a state script ran (`Name_Enter!` when it was made to fail)
 *   `ArtifactInstall`  a handler call, named after the Update Module state
 *   `status:x`, `reboot`, `report:x`   what the host was asked to do
 * No root, no binary, no loop device.
 */
import { writeArtifact } from "../../src/artifact/writer.ts";
import type { ScriptAction, ScriptState } from "../../src/artifact/names.ts";
import { type Config, configSchema, resolvePaths } from "../../src/device/config.ts";
import { loadStore, saveStore, type StoreData } from "../../src/device/store.ts";
import { OtaError } from "../../src/errors.ts";
import type { PayloadHandler, RebootAnswer } from "../../src/handlers/handler.ts";
import { createLogger } from "../../src/log.ts";
import type { Progress } from "../../src/progress.ts";
import { beginUpdate } from "../../src/update/begin.ts";
import type { Engine } from "../../src/update/context.ts";
import { deliver, restart } from "../../src/update/driver.ts";
import { type Host, stateRecordedAs } from "../../src/update/machine.ts";
import { openSource } from "../../src/update/source.ts";
import type { ScriptRunner } from "../../src/update/scripts.ts";
import { commit, install, resume, rollback } from "../../src/update/standalone.ts";
import { parseStopBefore } from "../../src/update/stop_before.ts";

export const DEVICE_TYPE = "test-board";

/** What the fake handler answers, and where it fails. */
export interface HandlerSpec {
  needsReboot?: RebootAnswer;
  supportsRollback?: boolean;
  /** Handler calls that throw, by state name (e.g. "ArtifactInstall", "NeedsArtifactReboot"). */
  fails?: string[];
  /** Handler calls that throw the first time only (in one process). */
  failOnce?: string[];
  /** ArtifactCommit refuses as the rootfs handler does before the reboot. */
  notRebooted?: boolean;
}

/** Thrown by the store after a chosen write: the power went out right after it. */
export class PowerCut extends Error {}

export interface Kit {
  dir: string;
  config: Config;
  log: string[];
  /** The power goes out right after this write of the store (counted over all engines). */
  cutAfterWrite?: number;
  /** Writes of the store so far. */
  writes: number;
  /** A fresh engine over the same directory (a new process, e.g. after a cut). */
  engine(options?: { spec?: HandlerSpec; failScripts?: string[] }): Engine;
  store(): Promise<StoreData>;
  /** A module-image artifact for the test board (payload type `fake`, or none). */
  artifact(
    name?: string,
    options?: { empty?: boolean; scripts?: Record<string, string> },
  ): Promise<string>;
  [Symbol.asyncDispose](): Promise<void>;
}

function fakeHandler(spec: HandlerSpec, log: string[]): PayloadHandler {
  const failedOnce = new Set<string>();
  const fails = (state: string) => {
    if (spec.fails?.includes(state)) return true;
    if (!spec.failOnce?.includes(state) || failedOnce.has(state)) return false;
    failedOnce.add(state);
    return true;
  };
  const call = (state: string) => () => {
    log.push(state);
    if (fails(state)) {
      return Promise.reject(new OtaError("MODULE_FAILED", `${state} failed (as told)`));
    }
    return Promise.resolve();
  };
  const answer = <T>(state: string, value: T) => async () => {
    await call(state)();
    return value;
  };
  return {
    type: "fake",
    async download(files) {
      log.push("Download");
      for await (const file of files) await file.stream.pipeTo(new WritableStream());
      if (fails("Download")) fail("Download");
    },
    install: call("ArtifactInstall"),
    needsReboot: answer("NeedsArtifactReboot", spec.needsReboot ?? "No"),
    supportsRollback: answer("SupportsRollback", spec.supportsRollback ?? false),
    reboot: call("ArtifactReboot"),
    verifyReboot: call("ArtifactVerifyReboot"),
    async commit() {
      await call("ArtifactCommit")();
      if (spec.notRebooted) {
        throw new OtaError("NOT_REBOOTED", "the new system is not running yet: reboot into it");
      }
    },
    rollback: call("ArtifactRollback"),
    rollbackReboot: call("ArtifactRollbackReboot"),
    verifyRollbackReboot: call("ArtifactVerifyRollbackReboot"),
    failure: call("ArtifactFailure"),
    cleanup: call("Cleanup"),
  };
}

function fail(state: string): never {
  throw new OtaError("MODULE_FAILED", `${state} failed (as told)`);
}

function fakeScripts(log: string[], failing: string[]): ScriptRunner {
  return {
    run(state: ScriptState, action: ScriptAction, options = {}) {
      const name = `${state}_${action}`;
      if (!failing.includes(name)) {
        log.push(name);
        return Promise.resolve();
      }
      log.push(`${name}!`);
      if (options.ignoreErrors) return Promise.resolve();
      return Promise.reject(new OtaError("SCRIPT_FAILED", `state script ${name}_00 failed`));
    },
  };
}

const quiet = { write: () => true } as unknown as NodeJS.WriteStream;
const silentProgress: Progress = { step() {}, update() {}, done() {} };

export async function kit(config: Record<string, unknown> = {}): Promise<Kit> {
  const dir = await Deno.makeTempDir({ prefix: "ota-machine-" });
  await Deno.writeTextFile(`${dir}/device_type`, `device_type=${DEVICE_TYPE}\n`);
  await Deno.writeTextFile(`${dir}/artifact_info`, "artifact_name=factory\n");
  const parsed = configSchema.parse({
    ArtifactInfoFile: `${dir}/artifact_info`,
    ScriptsDir: `${dir}/rootfs-scripts`,
    ...config,
  });
  const log: string[] = [];
  let count = 0;
  const self: Kit = {
    dir,
    config: parsed,
    log,
    writes: 0,
    engine(options = {}) {
      return {
        config: parsed,
        paths: resolvePaths(parsed, dir),
        log: createLogger("error", quiet),
        progress: silentProgress,
        scripts: fakeScripts(log, options.failScripts ?? []),
        handlerFor: () => Promise.resolve(fakeHandler(options.spec ?? {}, log)),
        load: () => loadStore(dir),
        async save(store) {
          await saveStore(dir, store);
          log.push(store.update ? `#${stateRecordedAs(store.update.state)}` : "#Done");
          if (++self.writes === self.cutAfterWrite) {
            throw new PowerCut(`power cut after write ${self.writes}`);
          }
        },
      };
    },
    store: () => loadStore(dir),
    async artifact(name = "release-2", options = {}) {
      const path = `${dir}/${name}-${++count}.mender`;
      await writeArtifact({
        name,
        deviceTypes: [DEVICE_TYPE],
        compression: "none",
        scripts: Object.entries(options.scripts ?? {}).map(([script, text]) => ({
          name: script,
          bytes: new TextEncoder().encode(text),
        })),
        payload: options.empty ? { type: null, files: [], typeInfo: {} } : {
          type: "fake",
          files: [{ name: "blob.bin", bytes: new TextEncoder().encode(`payload of ${name}\n`) }],
          typeInfo: { artifact_provides: { "fake.version": name } },
        },
      }, path);
      return path;
    },
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
  return self;
}

/**
 * A daemon's host: it reports (answering "aborted" at `abortAt`, e.g. "installing@2" for the
 * second report of installing, or "unreachable" when it starts with "!"), reboots (the process then hangs until it is dropped), and
 * reports the end.
 */
export function daemonHost(log: string[], abortAt?: string): Host & { rebooted: Promise<void> } {
  let rebooted!: () => void;
  const promise = new Promise<void>((resolve) => rebooted = resolve);
  const seen = new Map<string, number>();
  return {
    rebooted: promise,
    status(status) {
      log.push(`status:${status}`);
      const n = (seen.get(status) ?? 0) + 1;
      seen.set(status, n);
      const at = abortAt?.replace(/^!/, "");
      const hit = at === status || at === `${status}@${n}`;
      return Promise.resolve(
        hit ? abortAt!.startsWith("!") ? "unreachable" : "aborted" : undefined,
      );
    },
    reboot() {
      log.push("reboot");
      rebooted();
      return new Promise<never>(() => {});
    },
    finished(report) {
      log.push(`report:${report.status}`);
      return Promise.resolve();
    },
  };
}

/** The daemon's part: begin an update (until it ends or the host reboots), or boot. */
export async function daemonStep(k: Kit, engine: Engine, step: string, abortAt?: string) {
  const host = daemonHost(k.log, abortAt);
  const work = step === "begin"
    ? (async () => {
      const artifact = await k.artifact("release-2");
      await beginUpdate(engine, host, { open: () => openSource(artifact, sourceOptions(engine)) });
    })()
    : (async () => {
      // at boot: finish what was under way, and continue a pause (a daemon holds none)
      const store = await k.store();
      if (!(await restart(engine, host, store))) await deliver(engine, host, store, "continue");
    })();
  // a reboot never returns: the process is dropped there
  await Promise.race([work, host.rebooted]);
}

function sourceOptions(engine: Engine) {
  return {
    log: engine.log,
    retries: 0,
    maxIntervalMs: 1,
    limits: { idleTimeoutMs: 1000, minBytesPerSecond: 0, rateWindowMs: 1000 },
  };
}

/** The log as one line, for readable comparisons. */
export const line = (log: string[]) => log.join(" ");

/** What a standalone command printed and exited with (`0 Committed.`), or `error CODE: ...`. */
export async function outcomeOf(pending: Promise<{ exitCode: number; messages: string[] }>) {
  try {
    const outcome = await pending;
    return `${outcome.exitCode} ${outcome.messages.join(" / ")}`;
  } catch (error) {
    if (error instanceof OtaError) return `error ${error.code}: ${error.message}`;
    throw error;
  }
}

/**
 * Runs one standalone command line in `engine` (a new process): `install [empty]
 * [--reboot-exit-code]`, `commit`, `rollback` or `resume`, each with any number of
 * `--stop-before STATE`.
 */
export async function command(k: Kit, engine: Engine, text: string): Promise<string> {
  const [name, ...rest] = text.split(" ");
  const stops = rest.flatMap((arg, i) => rest[i - 1] === "--stop-before" ? [arg] : []);
  const options = { stopBefore: stops.length ? stops.map(parseStopBefore) : undefined };
  switch (name) {
    case "install": {
      const artifact = await k.artifact("release-2", { empty: rest.includes("empty") });
      const rebootExitCode = rest.includes("--reboot-exit-code");
      return await outcomeOf(install(engine, artifact, { ...options, rebootExitCode }));
    }
    case "commit":
      return await outcomeOf(commit(engine, options));
    case "rollback":
      return await outcomeOf(rollback(engine, options));
    case "resume":
      return await outcomeOf(resume(engine, options));
  }
  throw new Error(`unknown command ${text}`);
}
