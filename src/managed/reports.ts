/**
 * Getting a deployment's reports to the server. Statuses on the way (downloading, installing,
 * rebooting) go once, their failures only logged, as Mender 5 sends them; the one before the
 * commit and the final one are retried on Mender's backoff. The final report is never lost
 * and its status goes once: the update machine writes it into the device store in the write
 * that ends the update (driver.ts), a deployment that ended before an update began is recorded
 * here the same way; once the server took the status that is recorded, so a restart sends only
 * the log that is left; then the report goes (clearReport).
 */
import type { Report } from "../device/store.ts";
import { OtaError } from "../errors.ts";
import type { Engine } from "../update/context.ts";
import { clearReport } from "../update/driver.ts";
import type { DeviceApi } from "./api.ts";
import { type DeploymentLogger, logMessages } from "./deployment_log.ts";
import {
  type DeploymentStatus,
  type ReportResult,
  reportStatus,
  uploadLog,
} from "./deployments.ts";

export interface ReportContext {
  engine: Engine;
  log: DeploymentLogger;
  api: DeviceApi;
  /** Waits, or returns false early when the daemon stops. */
  sleep(ms: number): Promise<boolean>;
  /** Mender's backoff (backoff.ts retrySchedule): the wait before the next try, if any. */
  backoff(tried: number): number | undefined;
}

function sent(ctx: ReportContext, id: string, status: string, result: ReportResult): ReportResult {
  const note = result === "aborted" ? " (409: aborted on the server)" : "";
  ctx.log.info(`Deployment ${id}: reported ${status}${note}`);
  return result;
}

/** A status on the way: one try; anything but a 409 is logged and the deployment goes on. */
export async function reportOnce(
  ctx: ReportContext,
  id: string,
  status: DeploymentStatus,
): Promise<ReportResult> {
  try {
    return sent(ctx, id, status, await reportStatus(ctx.api, id, status));
  } catch (error) {
    ctx.log.warning(`Deployment ${id}: could not report ${status}: ${(error as Error).message}`);
    return "ok";
  }
}

/**
 * Something the server must get, tried on Mender's backoff schedule: "gave-up" when the tries
 * are used up; STOPPED when the daemon stops while it waits.
 */
export async function withRetries<T>(
  ctx: ReportContext,
  what: string,
  attempt: () => Promise<T>,
): Promise<T | "gave-up"> {
  for (let tried = 0;; tried++) {
    try {
      return await attempt();
    } catch (error) {
      const wait = ctx.backoff(tried);
      const why = (error as Error).message;
      if (wait === undefined) {
        ctx.log.error(`Giving up ${what} for now: ${why}`);
        return "gave-up";
      }
      ctx.log.warning(`${what} failed (${why}); again in ${wait / 1000} s`);
      if (!await ctx.sleep(wait)) throw new OtaError("STOPPED", `stopped while ${what}`);
    }
  }
}

/** A status that must arrive (the one before the commit, the final one). */
export function reportWithRetries(
  ctx: ReportContext,
  id: string,
  status: DeploymentStatus,
): Promise<ReportResult | "gave-up"> {
  return withRetries(
    ctx,
    `reporting ${status} for deployment ${id}`,
    async () => sent(ctx, id, status, await reportStatus(ctx.api, id, status)),
  );
}

/** Records the final report of a deployment that ended before an update began. */
export async function recordReport(engine: Engine, report: Report): Promise<void> {
  const store = await engine.load();
  store.report = report;
  await engine.save(store);
}

/**
 * Sends the recorded final report: its status, then after a failure the log (none after a
 * 409: Mender uploads no log for an aborted deployment). The report when it is gone, "kept" when
 * the server did not take the status (the daemon tries again later), undefined when there
 * was none.
 */
export async function sendReport(ctx: ReportContext): Promise<Report | "kept" | undefined> {
  const store = await ctx.engine.load();
  const report = store.report;
  if (!report) return undefined;
  // an artifact installed already has no log of its own (no update ran)
  const logFile = report.status === "already-installed"
    ? undefined
    : ctx.log.pin(ctx.engine.paths.updateLogDir, report.id);
  if (!report.statusSent) {
    const answer = await reportWithRetries(ctx, report.id, report.status);
    if (answer === "gave-up") return "kept";
    report.statusSent = true;
    if (answer === "aborted") delete report.log;
    await ctx.engine.save(store);
  }
  if (report.status === "failure" && report.log && logFile) {
    const messages = await logMessages(logFile);
    const uploaded = await withRetries(
      ctx,
      `uploading the log of deployment ${report.id}`,
      () => uploadLog(ctx.api, report.id, messages),
    );
    if (uploaded !== "gave-up") {
      ctx.log.info(`Deployment ${report.id}: log uploaded (${messages.length} lines)`);
    }
  }
  ctx.log.info(`Deployment ${report.id} finished: ${report.status}`);
  ctx.log.unpin();
  await clearReport(ctx.engine, store);
  return report;
}
