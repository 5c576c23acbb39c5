/**
 * Running the real tools at the edges (fw_setenv, grub-editenv, modules, state scripts):
 * output captured line by line, a timeout that sends SIGTERM and then SIGKILL, and
 * errors that say which program failed and how.
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { type ErrorCode, fail, OtaError } from "./errors.ts";

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  stdin?: string | Uint8Array;
  /** Milliseconds; the process gets SIGTERM, then SIGKILL after `killAfterMs`. */
  timeoutMs?: number;
  killAfterMs?: number;
  /** Called for each output line as it arrives (for logs). */
  onLine?: (stream: "stdout" | "stderr", line: string) => void;
  /** Bytes of stdout to keep; more is an OUTPUT_LIMIT error (a runaway query answer). */
  maxStdout?: number;
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export function runProcess(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(command, args, {
        cwd: options.cwd,
        env: options.env as NodeJS.ProcessEnv | undefined,
        stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
        // its own process group, so a timeout also stops what it started (a shell's `sleep`)
        detached: true,
      });
    } catch (error) {
      reject(error);
      return;
    }
    const out: Record<"stdout" | "stderr", string[]> = { stdout: [], stderr: [] };
    const partial = { stdout: "", stderr: "" };
    let stdoutBytes = 0;
    let overflow = false;
    let timedOut = false;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    let exitTimer: ReturnType<typeof setTimeout> | undefined;
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        child.kill(signal);
      }
    };
    const collect = (stream: "stdout" | "stderr") => (chunk: Uint8Array) => {
      const text = partial[stream] + new TextDecoder().decode(chunk);
      if (stream === "stdout") {
        stdoutBytes += chunk.byteLength;
        if (options.maxStdout !== undefined && stdoutBytes > options.maxStdout) {
          overflow = true;
          killGroup("SIGKILL");
          return;
        }
      }
      const lines = text.split("\n");
      partial[stream] = lines.pop()!;
      for (const line of lines) {
        out[stream].push(line);
        options.onLine?.(stream, line);
      }
    };
    child.stdout!.on("data", collect("stdout"));
    child.stderr!.on("data", collect("stderr"));
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      killGroup("SIGTERM");
      killTimer = setTimeout(() => killGroup("SIGKILL"), options.killAfterMs ?? 5000);
    }, options.timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      reject(error);
    });
    // A grandchild that keeps our pipes open must not keep us waiting after the child exited.
    child.once("exit", () => {
      exitTimer = setTimeout(() => {
        child.stdout!.destroy();
        child.stderr!.destroy();
        child.emit("close", child.exitCode, child.signalCode);
      }, 2000);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      clearTimeout(exitTimer);
      for (const stream of ["stdout", "stderr"] as const) {
        if (partial[stream]) {
          out[stream].push(partial[stream]);
          options.onLine?.(stream, partial[stream]);
        }
      }
      if (overflow) {
        reject(
          new OtaError("OUTPUT_LIMIT", `${command} printed more than ${options.maxStdout} bytes`),
        );
        return;
      }
      resolve({
        code,
        signal,
        stdout: out.stdout.join("\n"),
        stderr: out.stderr.join("\n"),
        timedOut,
      });
    });
    if (options.stdin !== undefined) {
      // a program that exits before reading all of its input (EPIPE) fails by its exit code
      child.stdin!.on("error", () => {});
      child.stdin!.end(options.stdin);
    }
  });
}

/** Runs a tool that must succeed; its failure becomes an OtaError with the tool's own words. */
export async function runTool(
  code: ErrorCode,
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<string> {
  let result: RunResult;
  try {
    result = await runProcess(command, args, options);
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    if (errno === "ENOENT") {
      fail(code, `${command} was not found; install it or set its path in the configuration`);
    }
    if (errno === "EACCES") fail(code, `${command} is not executable`);
    fail(code, `${command} could not run: ${(error as Error).message}`);
  }
  if (result.timedOut) {
    fail(code, `${command} ${args.join(" ")} did not finish in time and was stopped`);
  }
  if (result.code !== 0) {
    const said = (result.stderr || result.stdout).trim().split("\n").slice(-3).join(" / ");
    fail(
      code,
      `${command} ${args.join(" ")} failed (${result.signal ?? `exit ${result.code}`})${
        said ? `: ${said}` : ""
      }`,
    );
  }
  return result.stdout;
}
