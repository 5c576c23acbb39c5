/**
 * Logging: human lines on stderr (filtered by level) and, while an update runs, every
 * line also appended to that update's log file (JSON lines, as Mender's deployment logs),
 * so module and script output is kept with the update it belongs to.
 */
import { appendFileSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import process from "node:process";
import { fail } from "./errors.ts";

export const levels = ["debug", "info", "warning", "error"] as const;
export type Level = typeof levels[number];

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  /** Starts appending to an update log in `dir`; returns its path. */
  openUpdateLog(dir: string, updateId: string): string;
  closeUpdateLog(): void;
}

const KEEP_LOGS = 5;

/** Mender keeps `deployments.NNNN.<id>.log`, newest 0001; older ones shift up, the oldest go. */
function rotate(dir: string, updateId: string): string {
  mkdirSync(dir, { recursive: true });
  const existing = readdirSync(dir)
    .map((name) => /^deployments\.(\d{4})\.(.+)\.log$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null);
  const current = existing.find((m) => m[2] === updateId);
  if (current) return `${dir}/${current[0]}`;
  for (const m of existing.sort((a, b) => Number(b[1]) - Number(a[1]))) {
    const n = Number(m[1]) + 1;
    if (n > KEEP_LOGS) rmSync(`${dir}/${m[0]}`, { force: true });
    else {renameSync(
        `${dir}/${m[0]}`,
        `${dir}/deployments.${String(n).padStart(4, "0")}.${m[2]}.log`,
      );}
  }
  return `${dir}/deployments.0001.${updateId}.log`;
}

export function createLogger(
  level: Level = "info",
  stream: NodeJS.WriteStream = process.stderr,
  logFile?: string,
): Logger {
  const threshold = levels.indexOf(level);
  let file: string | undefined;
  const write = (at: Level, message: string) => {
    if (logFile && levels.indexOf(at) >= threshold) {
      try {
        appendFileSync(logFile, `${new Date().toISOString()} ${at} ${message}\n`);
      } catch {
        logFile = undefined; // an unwritable log file must not stop the update
      }
    }
    if (file) {
      try {
        appendFileSync(
          file,
          JSON.stringify({ timestamp: new Date().toISOString(), level: at, message }) + "\n",
        );
      } catch {
        file = undefined; // a full or read-only disk must not stop the update itself
      }
    }
    if (levels.indexOf(at) >= threshold) {
      stream.write(`${at === "info" ? "" : `${at}: `}${message}\n`);
    }
  };
  return {
    debug: (m) => write("debug", m),
    info: (m) => write("info", m),
    warning: (m) => write("warning", m),
    error: (m) => write("error", m),
    openUpdateLog(dir, updateId) {
      file = rotate(dir, updateId);
      return file;
    },
    closeUpdateLog() {
      file = undefined;
    },
  };
}

/**
 * Mender's levels (logrus: panic, fatal, error, warning, info, debug, trace; any case) onto
 * ota's four: panic and fatal show errors only, trace is debug.
 */
const menderLevels: Record<string, Level> = {
  panic: "error",
  fatal: "error",
  error: "error",
  warn: "warning",
  warning: "warning",
  info: "info",
  debug: "debug",
  trace: "debug",
};

export function parseLevel(value: string): Level {
  const key = value.toLowerCase();
  if (Object.hasOwn(menderLevels, key)) return menderLevels[key]!;
  fail(
    "BAD_ARGUMENTS",
    `--log-level must be one of ${Object.keys(menderLevels).join(", ")}, not ${
      JSON.stringify(value)
    }`,
  );
}
