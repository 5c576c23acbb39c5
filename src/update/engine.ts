/**
 * What every update step needs: configuration, paths, the log, progress, state scripts,
 * the device's identity and the payload handlers. Built once per command.
 */
import { promises as fs } from "node:fs";
import { resolve } from "node:path";
import type { Progress } from "../progress.ts";
import { type Config, type Paths, resolvePaths, verifyKeyPaths } from "../device/config.ts";
import type { DeviceIdentity } from "../device/provides.ts";
import { readArtifactInfo } from "../device/artifact_info.ts";
import { loadDeviceStore } from "../device/carry_over.ts";
import { saveDeviceStore } from "../device/mender_mirror.ts";
import { parseDeviceType, type StoreData } from "../device/store.ts";
import { fail } from "../errors.ts";
import { readTextIfExists } from "../files.ts";
import { mergeRecords } from "../records.ts";
import type { HandlerContext, PayloadHandler } from "../handlers/handler.ts";
import { emptyHandler } from "../handlers/empty.ts";
import { moduleHandler } from "../handlers/module.ts";
import { rootfsHandler } from "../handlers/rootfs.ts";
import type { Logger } from "../log.ts";
import { parseVerifyKey, type VerifyKey } from "../artifact/signature.ts";
import { type ScriptRunner, scriptRunner } from "./scripts.ts";
import type { SourceOptions } from "./source.ts";

export interface Engine {
  config: Config;
  paths: Paths;
  log: Logger;
  progress: Progress;
  scripts: ScriptRunner;
  handlerFor(type: string | null): Promise<PayloadHandler>;
}

export function createEngine(
  config: Config,
  dataDir: string,
  log: Logger,
  progress: Progress,
): Engine {
  // Modules run with their file tree as working directory: relative paths would break them.
  dataDir = resolve(dataDir);
  const paths = resolvePaths(config, dataDir);
  return {
    config,
    paths,
    log,
    progress,
    scripts: scriptRunner(config, dataDir, log),
    async handlerFor(type) {
      if (type === null) return emptyHandler();
      if (type === "rootfs-image") return rootfsHandler();
      return await moduleHandler(type, resolve(config.ModulesDir));
    },
  };
}

export async function deviceType(engine: Engine): Promise<string> {
  const path = engine.paths.deviceTypeFile;
  const text = await readTextIfExists(path);
  if (text === undefined) {
    fail("DEVICE_TYPE_MISSING", `${path} does not exist; it must say device_type=<your board>`);
  }
  return parseDeviceType(text, path);
}

/** The installed artifact's name: the store, else /etc/mender/artifact_info, else "unknown". */
export async function currentArtifactName(engine: Engine, store: StoreData): Promise<string> {
  if (store.artifactName) return store.artifactName;
  return (await readArtifactInfo(engine.config.ArtifactInfoFile)).name ?? "unknown";
}

export async function deviceIdentity(engine: Engine, store: StoreData): Promise<DeviceIdentity> {
  const name = await currentArtifactName(engine, store);
  const provides = mergeRecords(store.provides, { artifact_name: name });
  if (store.artifactGroup) provides.artifact_group = store.artifactGroup;
  return { deviceType: await deviceType(engine), provides };
}

export async function verifyKeys(engine: Engine): Promise<VerifyKey[] | undefined> {
  const paths = verifyKeyPaths(engine.config);
  if (!paths.length) return undefined;
  return await Promise.all(paths.map(async (path) => {
    const pem = await fs.readFile(path).catch(() => {
      fail(
        "KEY_INVALID",
        `cannot read the verification key ${path} (ArtifactVerifyKey); fix the path in the configuration`,
      );
    });
    return parseVerifyKey(pem, `the verification key ${path}`);
  }));
}

export async function handlerContext(engine: Engine, store: StoreData): Promise<HandlerContext> {
  const record = store.update;
  if (!record) fail("INTERNAL", "no update record");
  const type = await deviceType(engine).catch(() => "");
  return {
    config: engine.config,
    paths: engine.paths,
    log: engine.log,
    record,
    payloadIndex: 0,
    current: {
      artifactName: await currentArtifactName(engine, store),
      artifactGroup: store.artifactGroup,
      deviceType: type,
    },
  };
}

/** How sources are opened: Mender's retry count, ota's backoff cap and idle timeout, TLS trust. */
export async function sourceOptions(engine: Engine): Promise<SourceOptions> {
  const config = engine.config;
  const ca = config.ServerCertificate
    ? await fs.readFile(config.ServerCertificate, "utf8").catch(() => {
      fail(
        "CONFIG_INVALID",
        `cannot read ServerCertificate ${config.ServerCertificate}; fix the path in the configuration`,
      );
    })
    : undefined;
  return {
    log: engine.log,
    retries: config.RetryDownloadCount,
    maxIntervalMs: config.RetryDownloadMaxIntervalSeconds * 1000,
    idleTimeoutMs: config.DownloadIdleTimeoutSeconds * 1000,
    ca,
    insecure: config.SkipVerify,
  };
}

/**
 * Persists the store, counting state writes (a crash loop gives up instead of spinning), and
 * brings Mender's store in line (src/device/mender_mirror.ts).
 */
export async function persist(engine: Engine, store: StoreData): Promise<void> {
  if (store.update) store.writes += 1;
  else store.writes = 0;
  const problem = await saveDeviceStore(engine.paths.dataDir, store);
  if (problem) engine.log.warning(problem);
}

/** The device's store, with what Mender's store knows carried over (src/device/carry_over.ts). */
export const loadStore = loadDeviceStore;
