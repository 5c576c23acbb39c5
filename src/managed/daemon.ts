/**
 * `ota daemon`: Mender's managed mode. It sends the inventory at start, every
 * InventoryPollIntervalSeconds and after each deployment, asks for a deployment every
 * UpdatePollIntervalSeconds, and runs what it gets. Each of those is one Sync between two
 * Idles (the Idle and Sync state scripts run as Mender runs them); failures back off on
 * Mender's schedule, a device the server has not accepted asks again each poll interval.
 * SIGTERM stops it between steps; a deployment under way continues at the next start.
 */
import { mkdir } from "node:fs/promises";
import process from "node:process";
import { serverUrls } from "../device/config.ts";
import { readDeviceType, readInstalled } from "../device/identity.ts";
import { fail, isOtaError } from "../errors.ts";
import type { ScriptState } from "../artifact/names.ts";
import { runProcess } from "../process.ts";
import type { Engine } from "../update/context.ts";
import { createDeviceApi, type DeviceApi } from "./api.ts";
import { retrySchedule } from "./backoff.ts";
import { type ControlCommand, listenControl } from "./control.ts";
import {
  type DeploymentContext,
  resumeDeployment,
  type RunEnd,
  startDeployment,
} from "./deployment.ts";
import { deploymentLogger } from "./deployment_log.ts";
import { type DeviceState, nextDeployment } from "./deployments.ts";
import { dieAfterRecord } from "./fault_hook.ts";
import { collectInventory, sendInventory } from "./inventory.ts";
import { loadDeviceKey } from "./key.ts";
import { recordReport, sendReport } from "./reports.ts";

export interface DaemonOptions {
  engine: Engine;
  env?: Record<string, string | undefined>;
}

type Action = "inventory" | "poll";

interface Timer {
  at: number;
  failures: number;
}

export async function runDaemon(options: DaemonOptions): Promise<void> {
  const log = deploymentLogger(options.engine.log);
  const env = options.env ?? process.env;
  const engine: Engine = dieAfterRecord({ ...options.engine, log }, env.OTA_TEST_DIE_AFTER);
  const { config } = engine;
  const dataDir = engine.paths.dataDir;
  if (!serverUrls(config).length) {
    fail(
      "CONFIG_INVALID",
      "no server configured: set ServerURL (or Servers) in mender.conf to run the daemon",
    );
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const key = await loadDeviceKey(config, dataDir, log);
  const api = await createDeviceApi({ config, key, log, env: options.env });
  const backoff = retrySchedule(config, Number(env.OTA_TEST_BACKOFF_UNIT_MS) || undefined);

  const stop = new AbortController();
  let wakeUp = () => {};
  const sleep = (ms: number) =>
    new Promise<boolean>((resolve) => {
      if (stop.signal.aborted) return resolve(false);
      const done = (slept: boolean) => {
        clearTimeout(timer);
        stop.signal.removeEventListener("abort", onStop);
        wakeUp = () => {};
        resolve(slept);
      };
      const onStop = () => done(false);
      const timer = setTimeout(() => done(true), ms);
      stop.signal.addEventListener("abort", onStop, { once: true });
      wakeUp = () => done(true);
    });

  const timers: Record<Action, Timer> = {
    inventory: { at: 0, failures: 0 },
    poll: { at: 0, failures: 0 },
  };
  let authRetryAt = 0;
  let rebooting = false;
  /** The store may hold an update under way or a report owed (at start, after a deployment). */
  let owed = true;

  const control = await listenControl(dataDir, (command: ControlCommand) => {
    const action: Action = command === "check-update" ? "poll" : "inventory";
    log.info(
      `${command} requested: ${action === "poll" ? "polling" : "sending the inventory"} now`,
    );
    timers[action].at = 0;
    authRetryAt = 0;
    wakeUp();
  });
  const onSignal = () => {
    log.info("Stopping (SIGTERM)");
    stop.abort();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  const ctx: DeploymentContext = {
    engine,
    log,
    api,
    stop: stop.signal,
    sleep,
    backoff,
    reboot: () => reboot(config.RebootCommand, log),
  };
  const script = async (state: ScriptState, action: "Enter" | "Leave" | "Error") => {
    try {
      await engine.scripts.run(state, action, { ignoreErrors: action === "Error" });
      return true;
    } catch (error) {
      log.error(`${state}_${action}: ${(error as Error).message}`);
      return false;
    }
  };

  /** Runs a deployment (or what is left of one); unexpected errors wait and try again. */
  const deploy = async (run: () => Promise<RunEnd | undefined>) => {
    owed = true;
    try {
      const end = await run();
      if (end === "rebooting") rebooting = true;
      else if (end === "waiting") await sleep(config.RetryPollIntervalSeconds * 1000);
    } catch (error) {
      if (isOtaError(error, "STOPPED")) return;
      log.error(`Deployment: ${(error as Error).message}`);
      await sleep(config.RetryPollIntervalSeconds * 1000);
    }
  };

  /** The update under way, then the report owed; false when there is neither. */
  const settle = async (): Promise<boolean> => {
    const store = await engine.load();
    if (store.update) {
      await deploy(() => resumeDeployment(ctx));
      return true;
    }
    if (!store.report) return false;
    try {
      const report = await sendReport(ctx);
      // a report the server did not take: tried again after a poll interval, never dropped
      if (report === "kept") await sleep(config.UpdatePollIntervalSeconds * 1000);
      // the server learns the new state at once (an artifact installed already changed nothing)
      else if (report && report.status !== "already-installed") timers.inventory.at = 0;
    } catch (error) {
      if (!isOtaError(error, "STOPPED")) throw error;
    }
    return true;
  };

  const failed = (action: Action, error: unknown) => {
    const timer = timers[action];
    const now = Date.now();
    if (isOtaError(error, "AUTH_PENDING")) {
      authRetryAt = now + config.UpdatePollIntervalSeconds * 1000;
      log.warning(
        `${(error as Error).message}; asking again in ${config.UpdatePollIntervalSeconds} s`,
      );
      return;
    }
    const regular = action === "poll"
      ? config.UpdatePollIntervalSeconds
      : config.InventoryPollIntervalSeconds;
    const wait = backoff(timer.failures++);
    if (wait === undefined) timer.failures = 0;
    timer.at = now + (wait ?? regular * 1000);
    log.error(
      `${action === "poll" ? "Polling for a deployment" : "Sending the inventory"} failed: ${
        (error as Error).message
      }; again in ${(wait ?? regular * 1000) / 1000} s`,
    );
  };

  const inventory = async (api: DeviceApi) => {
    const device = await deviceState(engine);
    const attributes = await collectInventory(config.InventoryScriptsDir, device, log);
    const method = await sendInventory(api, attributes);
    log.info(`Inventory sent (${attributes.length} attributes, ${method})`);
  };

  const poll = async (api: DeviceApi) => {
    const device = await deviceState(engine);
    const next = await nextDeployment(api, device);
    timers.poll = { at: Date.now() + config.UpdatePollIntervalSeconds * 1000, failures: 0 };
    if (next.kind === "none") {
      log.info("No deployment for this device");
      return await script("Sync", "Leave") || await script("Sync", "Error");
    }
    if (next.kind === "invalid" && !next.id) {
      fail("DEPLOYMENT_INVALID", `the server offered an unusable deployment: ${next.reason}`);
    }
    if (!await script("Sync", "Leave")) return await script("Sync", "Error");
    if (next.kind === "invalid") {
      const logFile = log.pin(engine.paths.updateLogDir, next.id!); // the reason goes into the log
      log.error(`Deployment ${next.id} cannot be installed: ${next.reason}`);
      owed = true;
      return await recordReport(engine, {
        id: next.id!,
        status: "failure",
        artifactName: "",
        log: logFile,
      });
    }
    await deploy(() => startDeployment(ctx, next.instructions));
  };

  try {
    log.info(`Daemon started; server ${config.ServerURL ?? config.Servers?.[0]?.ServerURL}`);
    await script("Idle", "Enter");
    while (!stop.signal.aborted) {
      if (rebooting) {
        await sleep(60 * 60_000); // the system is going down; the next start goes on
        continue;
      }
      if (owed && (owed = await settle())) continue;
      const action: Action = timers.inventory.at <= timers.poll.at ? "inventory" : "poll";
      const at = Math.max(timers[action].at, authRetryAt);
      if (at > Date.now()) {
        await sleep(at - Date.now());
        continue;
      }
      await script("Idle", "Leave");
      if (!await script("Sync", "Enter")) {
        await script("Sync", "Error");
        timers[action].at = Date.now() + config.RetryPollIntervalSeconds * 1000;
      } else {
        try {
          if (action === "inventory") {
            await inventory(api);
            timers.inventory = {
              at: Date.now() + config.InventoryPollIntervalSeconds * 1000,
              failures: 0,
            };
            await script("Sync", "Leave") || await script("Sync", "Error");
          } else {
            await poll(api);
          }
          authRetryAt = 0;
        } catch (error) {
          failed(action, error);
          await script("Sync", "Error");
        }
      }
      await script("Idle", "Enter");
    }
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    await control.close();
    log.info("Daemon stopped");
  }
}

/** What the server is told the device has: the installed artifact, its type and provides. */
async function deviceState(engine: Engine): Promise<DeviceState> {
  const installed = await readInstalled(engine.paths);
  const { artifact_name: _name, ...provides } = installed.provides;
  return {
    artifactName: installed.artifactName,
    deviceType: await readDeviceType(engine.paths),
    provides,
  };
}

async function reboot(command: string, log: { info(m: string): void }): Promise<void> {
  const result = await runProcess("sh", ["-c", command], {
    timeoutMs: 5 * 60_000,
    onLine: (stream, line) => log.info(`${command} (${stream}): ${line}`),
  });
  if (result.code !== 0) {
    fail("REBOOT_FAILED", `${command} failed (${result.signal ?? `exit ${result.code}`})`);
  }
}
