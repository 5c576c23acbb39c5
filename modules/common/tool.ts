/**
 * Runs the external programs a module drives (tar, docker, podman): stdout captured,
 * stderr passed through to the client's log, and a failure turned into an OtaError that
 * names the command and repeats the tool's last words.
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { type ErrorCode, fail } from "../../src/errors.ts";

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command args`; never throws for a non-zero exit (the caller decides). */
export function runCommand(
  command: string,
  args: string[],
  options: { cwd?: string; input?: string } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: process.env,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Uint8Array[] = [];
    const err: Uint8Array[] = [];
    child.stdout!.on("data", (chunk: Uint8Array) => out.push(chunk));
    child.stderr!.on("data", (chunk: Uint8Array) => err.push(chunk));
    child.once("error", reject);
    child.once("close", (code, signal) => {
      const text = (chunks: Uint8Array[]) => new TextDecoder().decode(concat(chunks));
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: text(out),
        stderr: text(err),
      });
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** Runs a command that must succeed and returns its stdout. */
export async function runTool(
  code: ErrorCode,
  command: string,
  args: string[],
  options: { cwd?: string; input?: string } = {},
): Promise<string> {
  let result: ToolResult;
  try {
    result = await runCommand(command, args, options);
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    if (errno === "ENOENT") fail(code, `${command} was not found in PATH; install it`);
    fail(code, `${command} could not run: ${(error as Error).message}`);
  }
  if (result.code !== 0) {
    const said = (result.stderr || result.stdout).trim().split("\n").slice(-3).join(" / ");
    fail(
      code,
      `${command} ${args.join(" ")} failed (exit ${result.code})${said ? `: ${said}` : ""}`,
    );
  }
  return result.stdout;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
