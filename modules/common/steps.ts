/**
 * Step boundaries of a module state, for crash testing: with OTA_MODULE_CRASH_AFTER_STEP=N
 * the process kills itself with SIGKILL right after its N-th step, exactly as a power cut
 * or the client's timeout would stop it (only in state OTA_MODULE_CRASH_STATE when that
 * is set, so that a client's recovery states run whole). Tests use it to prove that every
 * state recovers from a kill at any boundary; on a device the variables are never set.
 */
import process from "node:process";

export interface Steps {
  /** Marks the end of one step; may not return (SIGKILL) when a crash is requested there. */
  done(name: string): void;
  /** How many steps have completed so far. */
  readonly count: number;
}

export function createSteps(
  state: string,
  env: Record<string, string | undefined> = process.env,
): Steps {
  const raw = env.OTA_MODULE_CRASH_AFTER_STEP;
  const here = !env.OTA_MODULE_CRASH_STATE || env.OTA_MODULE_CRASH_STATE === state;
  const crashAfter = here && raw && /^\d+$/.test(raw) ? Number(raw) : undefined;
  const trace = env.OTA_MODULE_TRACE_STEPS === "1";
  let count = 0;
  return {
    done(name: string) {
      count++;
      if (trace) process.stderr.write(`step ${count}: ${name}\n`);
      if (count === crashAfter) process.kill(process.pid, "SIGKILL");
    },
    get count() {
      return count;
    },
  };
}
