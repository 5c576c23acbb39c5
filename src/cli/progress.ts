/**
 * Progress for long work: a bar with rate and ETA on a terminal, one JSON line per step and
 * percent for a UI or a script (`--progress=json`), or nothing.
 */
import process from "node:process";
import { isatty } from "node:tty";
import { fail } from "../errors.ts";
import type { Progress } from "../progress.ts";

export type ProgressMode = "auto" | "bar" | "json" | "none";

export function parseProgressMode(value: string): ProgressMode {
  if (["auto", "bar", "json", "none"].includes(value)) return value as ProgressMode;
  fail("BAD_ARGUMENTS", `--progress must be auto, bar, json or none, not ${JSON.stringify(value)}`);
}

/** Progress on `out` (stderr unless given; its stream is made only when drawn on). */
export function createProgress(mode: ProgressMode, out?: NodeJS.WriteStream): Progress {
  const terminal = () => (out ? out.isTTY === true : isatty(2));
  const resolved = mode === "auto" ? (terminal() ? "bar" : "none") : mode;
  if (resolved === "bar") return barProgress(out ?? process.stderr);
  if (resolved === "json") return jsonProgress(out ?? process.stderr);
  return { step() {}, update() {}, done() {} };
}

function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "--:--";
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, "0")}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}

function barProgress(out: NodeJS.WriteStream): Progress {
  let name = "", total = 0, bytes = 0, started = 0, last = 0;
  const draw = (final = false) => {
    const now = performance.now();
    if (!final && now - last < 100) return;
    last = now;
    const seconds = (now - started) / 1000;
    const rate = seconds > 0 ? bytes / seconds : 0;
    const width = 30;
    const fraction = total ? Math.min(1, bytes / total) : 0;
    const bar = total ? "#".repeat(Math.round(fraction * width)).padEnd(width, ".") : "";
    const eta = total && rate ? formatSeconds((total - bytes) / rate) : "--:--";
    const pct = total ? `${(fraction * 100).toFixed(0).padStart(3)}% ` : "";
    out.write(
      `\r${name.padEnd(12)} ${bar ? `[${bar}] ` : ""}${pct}${formatBytes(bytes)} ${
        formatBytes(rate)
      }/s ETA ${eta}\x1b[K`,
    );
  };
  return {
    step(stepName, stepTotal = 0) {
      name = stepName;
      total = stepTotal;
      bytes = 0;
      started = performance.now();
      last = 0;
    },
    update(n) {
      bytes = n;
      draw();
    },
    done() {
      draw(true);
      out.write("\n");
    },
  };
}

function jsonProgress(out: NodeJS.WriteStream): Progress {
  let name = "", total = 0, bytes = 0, lastPercent = -1, started = 0;
  const emit = (extra: Record<string, unknown> = {}) =>
    out.write(JSON.stringify({ step: name, bytes, total, ...extra }) + "\n");
  return {
    step(stepName, stepTotal = 0) {
      name = stepName;
      total = stepTotal;
      bytes = 0;
      lastPercent = -1;
      started = performance.now();
      emit({ event: "start" });
    },
    update(n) {
      bytes = n;
      if (!total) return;
      const percent = Math.floor((bytes / total) * 100);
      if (percent === lastPercent) return;
      lastPercent = percent;
      emit({ event: "progress", percent });
    },
    done() {
      emit({
        event: "done",
        percent: 100,
        seconds: +((performance.now() - started) / 1000).toFixed(3),
      });
    },
  };
}
