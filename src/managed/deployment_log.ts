/**
 * The log of one deployment: every line the daemon, the update steps, modules and scripts
 * write while it runs, kept in `deployments.NNNN.<deployment id>.log` (the name Mender uses)
 * and uploaded in Mender's JSON when the deployment fails. The update steps open and close
 * their own log; while a deployment is pinned, those calls go to the deployment's file.
 */
import { readFile } from "node:fs/promises";
import type { Logger } from "../log.ts";
import type { LogMessage } from "./deployments.ts";

/** Mender's server takes the whole log; a runaway module must not make it huge. */
const MAX_UPLOAD_BYTES = 4 * 1024 * 1024;

export interface DeploymentLogger extends Logger {
  /** Sends every line to this deployment's log until `unpin`; returns the file. */
  pin(dir: string, deploymentId: string): string;
  unpin(): void;
  /** The pinned file, if any. */
  pinned(): string | undefined;
}

export function deploymentLogger(base: Logger): DeploymentLogger {
  let file: string | undefined;
  return {
    debug: (m) => base.debug(m),
    info: (m) => base.info(m),
    warning: (m) => base.warning(m),
    error: (m) => base.error(m),
    openUpdateLog: (dir, id) => file ?? base.openUpdateLog(dir, id),
    closeUpdateLog: () => {
      if (!file) base.closeUpdateLog();
    },
    pin(dir, deploymentId) {
      file = base.openUpdateLog(dir, deploymentId);
      return file;
    },
    unpin() {
      file = undefined;
      base.closeUpdateLog();
    },
    pinned: () => file,
  };
}

/** RFC 3339 in whole seconds, as Mender's log lines carry it. */
function seconds(timestamp: string): string {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime())
    ? new Date().toISOString().replace(/\.\d+Z$/, "Z")
    : date.toISOString().replace(/\.\d+Z$/, "Z");
}

/** The log file's lines as Mender's upload messages; broken lines are skipped, as Mender does. */
export async function logMessages(path: string): Promise<LogMessage[]> {
  const text = await readFile(path, "utf8").catch(() => "");
  const messages: LogMessage[] = [];
  let bytes = 0;
  for (const line of text.split("\n").reverse()) {
    if (!line) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof entry.message !== "string") continue;
    bytes += line.length;
    if (bytes > MAX_UPLOAD_BYTES) break;
    messages.push({
      level: typeof entry.level === "string" ? entry.level : "info",
      message: entry.message,
      timestamp: seconds(String(entry.timestamp ?? "")),
    });
  }
  return messages.reverse();
}
