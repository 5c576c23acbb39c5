/**
 * The Idle and Sync state scripts, which only a daemon runs, outside an update's life
 * (Mender's daemon): Idle_Enter before it waits for the next poll and Idle_Leave after, their
 * failures only logged; Sync_Enter, the server work (inventory, update check), Sync_Leave,
 * and on any failure Sync_Error, after which the work counts as failed (a failing Sync_Enter
 * skips it). An update that a check found starts after Sync_Leave.
 */
import type { Engine } from "./context.ts";

export async function idle<T>(engine: Engine, wait: () => Promise<T>): Promise<T> {
  await engine.scripts.run("Idle", "Enter").catch((error) => engine.log.error(error.message));
  const result = await wait();
  await engine.scripts.run("Idle", "Leave").catch((error) => engine.log.error(error.message));
  return result;
}

export async function sync<T>(engine: Engine, work: () => Promise<T>): Promise<T> {
  try {
    await engine.scripts.run("Sync", "Enter");
    const result = await work();
    await engine.scripts.run("Sync", "Leave");
    return result;
  } catch (error) {
    await engine.scripts.run("Sync", "Error", { ignoreErrors: true });
    throw error;
  }
}
