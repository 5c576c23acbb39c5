/**
 * A test hook for the fault tests, off unless OTA_TEST_DIE_AFTER is set: the daemon kills
 * itself with SIGKILL right after it recorded the named point, as a power cut there would.
 * The points are the update states the store records (Download_Enter, ArtifactInstall_Enter,
 * ArtifactReboot_Enter, ArtifactCommit_Enter, ...; src/device/store.ts), `report` (a final
 * report recorded, its status not sent) and `report-status` (the status sent, the log not).
 * The first daemon of a test dies there; the next one is started without it.
 */
import process from "node:process";
import type { StoreData } from "../device/store.ts";
import type { Engine } from "../update/context.ts";

function reached(point: string, store: StoreData): boolean {
  if (point === "report") return !store.update && !!store.report && !store.report.statusSent;
  if (point === "report-status") return !!store.report?.statusSent;
  return store.update?.state === point;
}

export function dieAfterRecord(engine: Engine, point: string | undefined): Engine {
  if (!point) return engine;
  return {
    ...engine,
    async save(store) {
      await engine.save(store);
      if (!reached(point, store)) return;
      engine.log.info(`OTA_TEST_DIE_AFTER=${point}: killing the daemon here`);
      process.kill(process.pid, "SIGKILL");
      await new Promise(() => {}); // the signal ends the process
    },
  };
}
