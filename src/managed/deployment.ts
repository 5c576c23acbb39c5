/**
 * A deployment, driven through the update machine (src/update/machine.ts) with the daemon's
 * Host: statuses on arrival at a state (a 409 takes the state's abort event, so an abort after
 * ArtifactInstall goes through the rollback path), the reboot through RebootCommand, and the
 * final report, which the machine writes into the store; reports.ts sends it. The order of
 * reports is Mender's: downloading, installing, [rebooting, and after the boot] installing
 * before the commit, then success or failure. All state logic is the machine's; this file
 * only says how the daemon reports, reboots and stops.
 *
 * SIGTERM: a download stops at once (an interrupted download then ends the deployment as
 * Mender 5 ends it, cleaned up and failed); any other state's action runs to its end and the
 * update waits at the next pause (before ArtifactInstall or ArtifactCommit), where the next
 * start continues it; a reboot the machine reached goes ahead (the system goes down anyway).
 */
import { fail, isOtaError } from "../errors.ts";
import { beginUpdate } from "../update/begin.ts";
import type { Engine } from "../update/context.ts";
import { deliver, restart, type RunResult } from "../update/driver.ts";
import type { Host } from "../update/machine.ts";
import { openSource } from "../update/source.ts";
import { sourceOptions } from "../update/source_options.ts";
import type { DeviceApi } from "./api.ts";
import type { DeploymentLogger } from "./deployment_log.ts";
import type { Instructions } from "./deployments.ts";
import { recordReport, reportOnce, reportWithRetries } from "./reports.ts";

export interface DeploymentContext {
  engine: Engine;
  log: DeploymentLogger;
  api: DeviceApi;
  /** Aborts when the daemon is asked to stop. */
  stop: AbortSignal;
  /** Waits, or returns false early when the daemon stops. */
  sleep(ms: number): Promise<boolean>;
  /** Mender's backoff: the wait before the next try of a report, if any. */
  backoff(tried: number): number | undefined;
  /** Runs the configured reboot command; throws when it fails. */
  reboot(): Promise<void>;
}

/**
 * How a run ended: the deployment is over (its report recorded), the daemon stops (the update
 * waits at a pause), the system reboots, or the update waits for another try.
 */
export type RunEnd = "done" | "stopped" | "rebooting" | "waiting";

interface DaemonHost extends Host {
  /** Resolves once the reboot command ran: the run then never ends. */
  rebooting: Promise<"rebooting">;
  /** `downloading` went out before the download began (Mender reports before it fetches). */
  downloadingSent: boolean;
}

function daemonHost(ctx: DeploymentContext, id: string, artifactName: string): DaemonHost {
  let rebooted!: (end: "rebooting") => void;
  const host: DaemonHost = {
    rebooting: new Promise((resolve) => rebooted = resolve),
    downloadingSent: false,
    async status(status, _record, state) {
      if (status === "already-installed") {
        ctx.log.info(`Deployment ${id}: ${artifactName} is installed already`);
        return await recordReport(ctx.engine, { id, status, artifactName });
      }
      if (status === "downloading" && host.downloadingSent) {
        host.downloadingSent = false;
        return;
      }
      // the last chance for the server to abort must arrive, or the update is not committed
      // (Mender 5's RetryThenFail); the others go once
      if (state === "ArtifactCommit") {
        const answer = await reportWithRetries(ctx, id, status);
        return answer === "gave-up" ? "unreachable" : answer === "aborted" ? "aborted" : undefined;
      }
      return (await reportOnce(ctx, id, status)) === "aborted" ? "aborted" : undefined;
    },
    async reboot() {
      ctx.log.info(`Deployment ${id}: rebooting (${ctx.engine.config.RebootCommand})`);
      await ctx.reboot();
      rebooted("rebooting");
      return await new Promise<never>(() => {}); // the system goes down
    },
    holds: () => ctx.stop.aborted,
    // the report is in the store already; the daemon sends it once the run ended
    finished: () => Promise.resolve(),
  };
  return host;
}

async function ended(
  ctx: DeploymentContext,
  host: DaemonHost,
  run: Promise<RunResult | "already-installed">,
): Promise<RunEnd> {
  const result = await Promise.race([run, host.rebooting]);
  if (result === "rebooting") return "rebooting";
  if (result === "already-installed" || result.end === "Done") return "done";
  if (result.held === "host") return "stopped";
  ctx.log.error(
    `Deployment ${result.record.id} waits in ${result.end}: ${(result.error as Error)?.message}`,
  );
  return "waiting";
}

/** Begins a deployment the server offered, with its artifact fetched from the offered URI. */
export async function startDeployment(
  ctx: DeploymentContext,
  instructions: Instructions,
): Promise<RunEnd> {
  const { id, artifactName, uri } = instructions;
  const { engine, log } = ctx;
  const host = daemonHost(ctx, id, artifactName);
  try {
    return await ended(
      ctx,
      host,
      beginUpdate(engine, host, {
        id,
        artifactName,
        async open() {
          log.pin(engine.paths.updateLogDir, id);
          log.info(`Deployment ${id}: ${artifactName} from ${uri}`);
          if ((await reportOnce(ctx, id, "downloading")) === "aborted") {
            fail("DEPLOYMENT_ABORTED", `deployment ${id} was aborted on the server`);
          }
          host.downloadingSent = true;
          const options = await sourceOptions(engine.config, log);
          return await openSource(uri, { ...options, ...ctx.api.tls, signal: ctx.stop });
        },
      }),
    );
  } catch (error) {
    if ((await engine.load()).update) {
      // the update is recorded: it continues at the next start, or after a wait
      if (isOtaError(error, "STOPPED")) return "stopped";
      throw error;
    }
    if (ctx.stop.aborted) return "stopped"; // nothing began: the server offers it again
    if (!log.pinned()) log.pin(engine.paths.updateLogDir, id);
    log.error(`Deployment ${id} failed: ${(error as Error).message}`);
    await recordReport(engine, { id, status: "failure", artifactName, log: log.pinned() });
    return "done";
  }
}

/**
 * Continues the update in the store after a start: by the interrupted state's rule (after a
 * reboot, in ArtifactVerifyReboot), or from the pause where it waits. Undefined when none.
 */
export async function resumeDeployment(ctx: DeploymentContext): Promise<RunEnd | undefined> {
  const store = await ctx.engine.load();
  const update = store.update;
  if (!update) return undefined;
  ctx.log.pin(ctx.engine.paths.updateLogDir, update.id);
  const host = daemonHost(ctx, update.id, update.headerInfo.artifact_provides.artifact_name);
  const run = (async () =>
    await restart(ctx.engine, host, store) ??
      await deliver(ctx.engine, host, store, "continue") ??
      fail("INTERNAL", `the update waits in ${update.state}, which nothing continues`))();
  try {
    return await ended(ctx, host, run);
  } catch (error) {
    if (isOtaError(error, "STOPPED")) return "stopped";
    throw error;
  }
}
