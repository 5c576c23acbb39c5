/**
 * State scripts, as Mender runs them: `<State>_<Enter|Leave|Error>_NN[_text]`, executable,
 * in name order. Idle, Sync and Download scripts come from the root filesystem's scripts
 * directory; Artifact* scripts only from the ones the (verified) artifact brought along,
 * which are kept in the data directory so a commit after a reboot still runs them.
 * Exit 21 means "retry later"; any other non-zero exit fails the state.
 */
import { promises as fs } from "node:fs";
import { join } from "node:path";
import type { ArtifactScript } from "../artifact/header.ts";
import { parseScriptName, type ScriptAction, type ScriptState } from "../artifact/names.ts";
import type { Config } from "../device/config.ts";
import { fail, OtaError } from "../errors.ts";
import { exists, syncDir, writeDurable } from "../files.ts";
import type { Logger } from "../log.ts";
import { runProcess } from "../process.ts";

const RETRY_LATER = 21;

export interface ScriptRunner {
  /**
   * Runs the scripts of one state and action. With `ignoreErrors` (Error scripts and the
   * rollback/failure states) every script runs and failures are only logged.
   */
  run(
    state: ScriptState,
    action: ScriptAction,
    options?: { ignoreErrors?: boolean },
  ): Promise<void>;
}

export function artifactScriptsDir(dataDir: string): string {
  return join(dataDir, "scripts");
}

/** Replaces the stored artifact scripts with the new artifact's (mode 0700, plus `version`). */
export async function storeArtifactScripts(
  dataDir: string,
  scripts: ArtifactScript[],
): Promise<void> {
  const dir = artifactScriptsDir(dataDir);
  const next = `${dir}.new`;
  await fs.rm(next, { recursive: true, force: true });
  await fs.mkdir(next, { recursive: true, mode: 0o700 });
  for (const script of scripts) await writeDurable(join(next, script.name), script.bytes, 0o700);
  await writeDurable(join(next, "version"), "3\n");
  await syncDir(next);
  // A power cut between the two renames leaves only scripts.new, whole: see scriptsDirOf.
  await fs.rm(`${dir}.old`, { recursive: true, force: true });
  await fs.rename(dir, `${dir}.old`).catch(() => {});
  await fs.rename(next, dir);
  await fs.rm(`${dir}.old`, { recursive: true, force: true });
  await syncDir(dataDir);
}

/** The artifact scripts directory, or its synced replacement when a cut came mid-swap. */
async function scriptsDirOf(dir: string): Promise<string> {
  if (await exists(dir)) return dir;
  return (await exists(`${dir}.new`)) ? `${dir}.new` : dir;
}

async function scriptsIn(dir: string, state: ScriptState, action: ScriptAction): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const name of names.sort()) {
    const parsed = parseScriptName(name);
    if (!parsed || parsed.state !== state || parsed.action !== action) continue;
    const stat = await fs.stat(join(dir, name)).catch(() => undefined);
    if (stat?.isFile() && (stat.mode & 0o111) !== 0) found.push(join(dir, name));
  }
  return found;
}

async function checkVersion(dir: string): Promise<void> {
  const text = await fs.readFile(join(dir, "version"), "utf8").catch(() => undefined);
  if (text === undefined) return;
  if (!["2", "3"].includes(text.trim())) {
    fail(
      "SCRIPT_VERSION",
      `${dir}/version says ${
        JSON.stringify(text.trim())
      }; state scripts of version 2 or 3 are supported`,
    );
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function scriptRunner(config: Config, dataDir: string, log: Logger): ScriptRunner {
  const runOne = async (path: string): Promise<void> => {
    const started = Date.now();
    const name = path.split("/").pop()!;
    while (true) {
      log.info(`Running state script ${name}`);
      const result = await runProcess(path, [], {
        timeoutMs: config.StateScriptTimeoutSeconds * 1000,
        onLine: (stream, line) => log.info(`${name} ${stream}: ${line}`),
      }).catch((error) => {
        throw new OtaError(
          "SCRIPT_FAILED",
          `state script ${name} could not run: ${(error as Error).message}`,
        );
      });
      if (result.timedOut) {
        fail(
          "SCRIPT_TIMEOUT",
          `state script ${name} ran longer than ${config.StateScriptTimeoutSeconds} s and was stopped`,
        );
      }
      if (result.code === 0) return;
      if (result.code === RETRY_LATER) {
        const elapsed = (Date.now() - started) / 1000;
        if (
          elapsed + config.StateScriptRetryIntervalSeconds > config.StateScriptRetryTimeoutSeconds
        ) {
          fail(
            "SCRIPT_TIMEOUT",
            `state script ${name} kept asking to retry later for ${config.StateScriptRetryTimeoutSeconds} s`,
          );
        }
        log.info(
          `State script ${name} asked to retry later (exit 21); again in ${config.StateScriptRetryIntervalSeconds} s`,
        );
        await sleep(config.StateScriptRetryIntervalSeconds * 1000);
        continue;
      }
      fail(
        "SCRIPT_FAILED",
        `state script ${name} failed (${result.signal ?? `exit ${result.code}`})`,
      );
    }
  };

  return {
    async run(state, action, options = {}) {
      const dir = state.startsWith("Artifact")
        ? await scriptsDirOf(artifactScriptsDir(dataDir))
        : config.ScriptsDir;
      const paths = await scriptsIn(dir, state, action);
      if (!paths.length) return;
      try {
        await checkVersion(dir);
      } catch (error) {
        // a rollback must not be stopped by scripts it cannot run
        if (!options.ignoreErrors) throw error;
        log.error(`${(error as Error).message} (scripts of ${state}_${action} skipped)`);
        return;
      }
      for (const path of paths) {
        try {
          await runOne(path);
        } catch (error) {
          if (!options.ignoreErrors) throw error;
          log.error(`${(error as Error).message} (ignored in ${state}_${action})`);
        }
      }
    },
  };
}
