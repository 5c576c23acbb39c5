/**
 * What every update step needs, built once per command: configuration, paths, the log,
 * progress, state scripts, the payload handlers and the device store. Tests build one with
 * fakes in place of the scripts, the handlers or the store.
 */
import { resolve } from "node:path";
import { type Config, type Paths, resolvePaths } from "../device/config.ts";
import { readDeviceType, readInstalled } from "../device/identity.ts";
import { loadDeviceStore } from "../device/carry_over.ts";
import { saveDeviceStore } from "../device/mender_mirror.ts";
import type { StoreData, UpdateRecord } from "../device/store.ts";
import type { HandlerContext, PayloadHandler } from "../handlers/handler.ts";
import { emptyHandler } from "../handlers/empty.ts";
import { moduleHandler } from "../handlers/module.ts";
import { rootfsHandler } from "../handlers/rootfs.ts";
import type { Logger } from "../log.ts";
import type { Progress } from "../progress.ts";
import { type ScriptRunner, scriptRunner } from "./scripts.ts";

export interface Engine {
  config: Config;
  paths: Paths;
  log: Logger;
  progress: Progress;
  scripts: ScriptRunner;
  handlerFor(type: string | null): Promise<PayloadHandler>;
  /** The device store, with what Mender's store knows carried over (device/carry_over.ts). */
  load(): Promise<StoreData>;
  /**
   * Replaces the device store atomically and brings Mender's store in line; every state record
   * goes through here.
   */
  save(store: StoreData): Promise<void>;
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
    load: () => loadDeviceStore(dataDir),
    async save(store) {
      const problem = await saveDeviceStore(dataDir, store);
      if (problem) log.warning(problem);
    },
  };
}

/** What a payload handler is told about the update and the device (modules' file tree). */
export async function handlerContext(
  engine: Engine,
  record: UpdateRecord,
): Promise<HandlerContext> {
  const installed = await readInstalled(engine.paths);
  return {
    config: engine.config,
    paths: engine.paths,
    log: engine.log,
    record,
    payloadIndex: 0,
    current: {
      artifactName: installed.artifactName,
      artifactGroup: installed.artifactGroup,
      deviceType: await readDeviceType(engine.paths).catch(() => ""),
    },
  };
}
