/**
 * The real dfu-util, driven one short operation per call (list, detach, upload, download,
 * reset), each with a time limit. Waiting for the board to re-enumerate is done here by
 * listing again, not by dfu-util itself, so every wait has our own bound and message.
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { fail } from "../../src/errors.ts";
import type { Board, Gateway } from "./settings.ts";

export interface Interface {
  mode: "runtime" | "dfu";
  id: string;
  path: string;
  alt: number;
  name: string;
  serial: string;
}

export interface DfuUtil {
  list(): Promise<Interface[]>;
  /** Runs dfu-util with `args`; throws a clear OtaError when it fails or hangs. */
  call(what: string, args: string[], accept?: (out: string, code: number) => boolean): Promise<
    string
  >;
}

export function dfuUtil(gateway: Gateway, log: (m: string) => void): DfuUtil {
  const call = async (
    what: string,
    args: string[],
    accept: (out: string, code: number) => boolean = (_out, code) => code === 0,
  ) => {
    log(`${what}: ${gateway.dfuUtil} ${args.join(" ")}`);
    const result = await runWithTimeout(gateway.dfuUtil, args, gateway.timeout * 1000);
    if (result.missing) {
      fail(
        "DFU_UTIL_MISSING",
        `${gateway.dfuUtil} was not found; install dfu-util or set dfu_util= in ` +
          `/etc/ota/dfu.conf (or OTA_DFU_UTIL)`,
      );
    }
    const out = result.output;
    if (result.timedOut) {
      fail(
        "DFU_TIMEOUT",
        `${what}: dfu-util made no progress for ${gateway.timeout} s and was stopped; ` +
          `check the board's USB connection (timeout= in /etc/ota/dfu.conf)`,
      );
    }
    if (!accept(out, result.code)) {
      const said = lastWords(out);
      if (/LIBUSB_ERROR_NO_DEVICE|LIBUSB_ERROR_PIPE|Lost device|No DFU capable/i.test(out)) {
        fail("DFU_DEVICE_LOST", `${what}: the board went away during the operation (${said})`);
      }
      fail("DFU_UTIL_FAILED", `${what}: dfu-util failed (exit ${result.code}): ${said}`);
    }
    return out;
  };
  return {
    call,
    async list() {
      const out = await call("list", ["-l"], (_out, code) => code === 0 || code === 74);
      return parseList(out);
    },
  };
}

const LINE =
  /^Found (Runtime|DFU): \[([0-9a-f]{4}:[0-9a-f]{4})\] .*?path="([^"]*)", alt=(\d+), name="([^"]*)", serial="([^"]*)"/;

export function parseList(out: string): Interface[] {
  const found: Interface[] = [];
  for (const line of out.split("\n")) {
    const m = LINE.exec(line.trim());
    if (!m) continue;
    // Every group of LINE is mandatory, so a match has all six.
    found.push({
      mode: m[1] === "DFU" ? "dfu" : "runtime",
      id: m[2]!.toLowerCase(),
      path: m[3]!,
      alt: Number(m[4]),
      name: m[5]!,
      serial: m[6]!,
    });
  }
  return found;
}

/** The interfaces that belong to this board: its ids in either mode, and its serial. */
export function boardInterfaces(all: Interface[], board: Board): Interface[] {
  return all.filter((i) =>
    (i.mode === "runtime" ? i.id === board.runtimeId : i.id === board.dfuId) &&
    (board.serial === undefined || i.serial === board.serial)
  );
}

/** The dfu-util options that select exactly this board in the given mode. */
export function selectArgs(board: Board, found: Interface): string[] {
  const args = ["-d", found.mode === "dfu" ? board.dfuId : board.runtimeId, "-p", found.path];
  if (found.serial && found.serial !== "UNKNOWN") args.push("-S", found.serial);
  return args;
}

function lastWords(out: string): string {
  const lines = out.split(/[\r\n]+/).map((l) => l.trim()).filter((l) =>
    l && !/^(Copyright|This program|Please report|dfu-util \d|Download\s*\[|Upload\s*\[)/.test(l)
  );
  return lines.slice(-3).join(" / ") || "no output";
}

interface RunResult {
  code: number;
  output: string;
  timedOut: boolean;
  missing: boolean;
}

/** stdout and stderr interleaved (dfu-util splits its story between them). */
function runWithTimeout(command: string, args: string[], ms: number): Promise<RunResult> {
  return new Promise((resolve) => {
    let output = "";
    let timedOut = false;
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: process.env });
    // The limit is on silence, not on the whole run: dfu-util prints its progress while
    // blocks go through, so a slow but moving transfer is never cut, a stuck one is.
    const stop = () => {
      timedOut = true;
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 2000).unref?.();
    };
    let timer = setTimeout(stop, ms);
    const take = (chunk: Uint8Array) => {
      output += new TextDecoder().decode(chunk);
      clearTimeout(timer);
      timer = setTimeout(stop, ms);
    };
    child.stdout!.on("data", take);
    child.stderr!.on("data", take);
    child.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({
        code: 127,
        output: error.message,
        timedOut: false,
        missing: error.code === "ENOENT",
      });
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), output, timedOut, missing: false });
    });
  });
}
