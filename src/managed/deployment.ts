/**
 * One deployment, step by step, in Mender 5's order of reports: downloading, the download,
 * installing, ArtifactInstall, [rebooting, the reboot], installing (the last chance for the
 * server to abort), ArtifactCommit, then success or failure (with the log). Each step is
 * recorded before it acts, so a restart continues where the deployment stood; the final
 * report is recorded before it is sent and kept until the server took it.
 */
import type { Engine } from "../update/engine.ts";
import { isOtaError, OtaError } from "../errors.ts";
import type { DeviceApi } from "./api.ts";
import { backoffInterval } from "./backoff.ts";
import { type DeploymentLogger, logMessages } from "./deployment_log.ts";
import {
  type DeploymentStatus,
  type Instructions,
  type ReportResult,
  reportStatus,
  uploadLog,
} from "./deployments.ts";
import type { DeploymentRecord, ManagedState } from "./state.ts";
import {
  abandonDownloaded,
  commitArtifact,
  currentUpdate,
  downloadArtifact,
  installArtifact,
  rollBackInstalled,
} from "./update_steps.ts";

/** An interrupted download is tried again this often before the deployment fails. */
const MAX_DOWNLOADS = 3;

export interface DeploymentContext {
  engine: Engine;
  log: DeploymentLogger;
  api: DeviceApi;
  state: ManagedState;
  save(): Promise<void>;
  /** Aborts when the daemon is asked to stop. */
  stop: AbortSignal;
  /** Waits, or returns false early when the daemon stops. */
  sleep(ms: number): Promise<boolean>;
  /** Runs the configured reboot command. */
  reboot(): Promise<void>;
}

/** How a run of the steps ended: the deployment is over, or waits (stopping, a report owed). */
export type RunEnd = "finished" | "waiting";

export async function startDeployment(
  ctx: DeploymentContext,
  instructions: Instructions,
  installedName: string,
): Promise<RunEnd> {
  const record: DeploymentRecord = {
    id: instructions.id,
    artifactName: instructions.artifactName,
    uri: instructions.uri,
    phase: "download",
    startedAt: new Date().toISOString(),
    downloads: 0,
    rebooted: false,
  };
  ctx.state.deployment = record;
  if (instructions.artifactName === installedName) {
    ctx.log.info(`Deployment ${record.id}: ${installedName} is installed already`);
    record.phase = "report";
    record.final = { status: "already-installed", log: false, statusSent: false };
  } else {
    ctx.log.pin(ctx.engine.paths.updateLogDir, record.id);
    ctx.log.info(`Deployment ${record.id}: ${record.artifactName} from ${record.uri}`);
  }
  await ctx.save();
  return await continueDeployment(ctx);
}

/** Runs the recorded deployment's steps until it is over or must wait. */
export async function continueDeployment(ctx: DeploymentContext): Promise<RunEnd> {
  while (ctx.state.deployment) {
    const record = ctx.state.deployment;
    if (record.final?.status !== "already-installed" && !ctx.log.pinned()) {
      ctx.log.pin(ctx.engine.paths.updateLogDir, record.id);
    }
    if (ctx.stop.aborted) return "waiting";
    try {
      switch (record.phase) {
        case "download":
          await downloadStep(ctx, record);
          break;
        case "install":
          await installStep(ctx, record);
          break;
        case "reboot":
          if (await rebootStep(ctx, record) === "waiting") return "waiting";
          break;
        case "commit":
          await commitStep(ctx, record);
          break;
        case "report":
          if (await reportStep(ctx, record) === "waiting") return "waiting";
          break;
      }
    } catch (error) {
      if (!isOtaError(error) || error.code !== "STOPPED") throw error;
      return "waiting";
    }
  }
  return "finished";
}

async function finish(
  ctx: DeploymentContext,
  record: DeploymentRecord,
  status: "success" | "failure",
  why?: string,
) {
  if (why) ctx.log.error(`Deployment ${record.id} failed: ${why}`);
  record.phase = "report";
  record.final = { status, log: status === "failure", statusSent: false };
  await ctx.save();
}

/** A report before a step: 409 means the server aborted the deployment; other failures are logged and ignored (as Mender 5). */
async function report(
  ctx: DeploymentContext,
  record: DeploymentRecord,
  status: DeploymentStatus,
): Promise<ReportResult> {
  try {
    const result = await reportStatus(ctx.api, record.id, status);
    ctx.log.info(
      `Deployment ${record.id}: reported ${status}${
        result === "aborted" ? " (409: aborted on the server)" : ""
      }`,
    );
    return result;
  } catch (error) {
    ctx.log.warning(
      `Deployment ${record.id}: could not report ${status}: ${(error as Error).message}`,
    );
    return "ok";
  }
}

const aborted = (record: DeploymentRecord) =>
  new OtaError("DEPLOYMENT_ABORTED", `deployment ${record.id} was aborted on the server`);

async function downloadStep(ctx: DeploymentContext, record: DeploymentRecord) {
  const existing = await currentUpdate(ctx.engine);
  if (existing?.state === "Before_ArtifactInstall_Enter") {
    record.phase = "install"; // the download finished before a restart
    return await ctx.save();
  }
  if (record.downloads >= MAX_DOWNLOADS) {
    return await finish(
      ctx,
      record,
      "failure",
      `the download was interrupted ${record.downloads} times`,
    );
  }
  record.downloads += 1;
  await ctx.save();
  if (await report(ctx, record, "downloading") === "aborted") {
    return await finish(ctx, record, "failure", aborted(record).message);
  }
  let update;
  try {
    update = await downloadArtifact(ctx.engine, record.uri, ctx.api.tls, ctx.stop);
  } catch (error) {
    if (ctx.stop.aborted) {
      record.downloads -= 1; // a stop is not a failed download; the next start downloads again
      await ctx.save();
      throw new OtaError("STOPPED", "stopped during the download");
    }
    return await finish(ctx, record, "failure", (error as Error).message);
  }
  const name = update.headerInfo.artifact_provides.artifact_name;
  if (name !== record.artifactName) {
    const cause = new OtaError(
      "DEPLOYMENT_INVALID",
      `the artifact is ${name}, but the server announced ${record.artifactName}`,
    );
    await abandonDownloaded(ctx.engine, cause);
    return await finish(ctx, record, "failure", cause.message);
  }
  record.phase = "install";
  await ctx.save();
}

async function installStep(ctx: DeploymentContext, record: DeploymentRecord) {
  const update = await currentUpdate(ctx.engine);
  if (!update) return await finish(ctx, record, "failure", "the update record is gone");
  if (update.state === "Before_ArtifactInstall_Enter") {
    if (await report(ctx, record, "installing") === "aborted") {
      await abandonDownloaded(ctx.engine, aborted(record));
      return await finish(ctx, record, "failure", aborted(record).message);
    }
  }
  let installed;
  try {
    installed = await installArtifact(ctx.engine);
  } catch (error) {
    return await finish(ctx, record, "failure", (error as Error).message);
  }
  record.phase = installed.needsReboot && installed.needsReboot !== "No" ? "reboot" : "commit";
  await ctx.save();
}

async function rebootStep(
  ctx: DeploymentContext,
  record: DeploymentRecord,
): Promise<RunEnd | void> {
  if (record.rebooted) {
    record.phase = "commit"; // this start is after the reboot
    return await ctx.save();
  }
  if (await report(ctx, record, "rebooting") === "aborted") {
    await rollBackInstalled(ctx.engine, aborted(record));
    return await finish(ctx, record, "failure", aborted(record).message);
  }
  record.rebooted = true;
  await ctx.save();
  ctx.log.info(`Deployment ${record.id}: rebooting into the new system`);
  try {
    await ctx.reboot();
  } catch (error) {
    const cause = new OtaError("REBOOT_FAILED", `the reboot failed: ${(error as Error).message}`);
    await rollBackInstalled(ctx.engine, cause);
    return await finish(ctx, record, "failure", cause.message);
  }
  return "waiting"; // the system goes down; the next start commits
}

async function commitStep(ctx: DeploymentContext, record: DeploymentRecord) {
  const update = await currentUpdate(ctx.engine);
  if (update?.state === "Before_ArtifactCommit_Enter") {
    const sent = await reportWithRetries(ctx, record, "installing");
    if (sent !== "ok") {
      const cause = sent === "aborted"
        ? aborted(record)
        : new OtaError("SERVER_UNREACHABLE", "the server could not be told before the commit");
      await rollBackInstalled(ctx.engine, cause);
      return await finish(ctx, record, "failure", cause.message);
    }
  }
  try {
    const outcome = await commitArtifact(ctx.engine);
    if (outcome.exitCode === 0) return await finish(ctx, record, "success");
    return await finish(ctx, record, "failure", outcome.messages.join(" "));
  } catch (error) {
    if (isOtaError(error, "NOT_REBOOTED")) {
      record.phase = "reboot";
      record.rebooted = false;
      return await ctx.save();
    }
    return await finish(ctx, record, "failure", (error as Error).message);
  }
}

/** Something the server must get: tried on Mender's backoff schedule; "gave-up" when the tries are used up. */
async function withRetries<T>(
  ctx: DeploymentContext,
  what: string,
  attempt: () => Promise<T>,
): Promise<T | "gave-up"> {
  const config = ctx.engine.config;
  for (let tried = 0;; tried++) {
    try {
      return await attempt();
    } catch (error) {
      const wait = backoffInterval(
        tried,
        config.RetryPollIntervalSeconds * 1000,
        config.RetryPollCount,
      );
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

function reportWithRetries(
  ctx: DeploymentContext,
  record: DeploymentRecord,
  status: DeploymentStatus,
): Promise<ReportResult | "gave-up"> {
  return withRetries(ctx, `reporting ${status} for deployment ${record.id}`, async () => {
    const result = await reportStatus(ctx.api, record.id, status);
    ctx.log.info(
      `Deployment ${record.id}: reported ${status}${
        result === "aborted" ? " (409: aborted on the server)" : ""
      }`,
    );
    return result;
  });
}

async function reportStep(
  ctx: DeploymentContext,
  record: DeploymentRecord,
): Promise<RunEnd | void> {
  const final = record.final!;
  if (!final.statusSent) {
    const sent = await reportWithRetries(ctx, record, final.status);
    if (sent === "gave-up") return "waiting"; // kept: sent again on the next round
    final.statusSent = true;
    if (sent === "aborted") final.log = false; // Mender uploads no log for an aborted deployment
    await ctx.save();
  }
  if (final.log) {
    const path = ctx.log.pinned();
    const messages = path ? await logMessages(path) : [];
    const sent = await withRetries(
      ctx,
      `uploading the log of deployment ${record.id}`,
      () => uploadLog(ctx.api, record.id, messages),
    );
    if (sent !== "gave-up") {
      ctx.log.info(`Deployment ${record.id}: log uploaded (${messages.length} lines)`);
    }
  }
  ctx.log.info(`Deployment ${record.id} finished: ${final.status}`);
  ctx.log.unpin();
  delete ctx.state.deployment;
  await ctx.save();
}
