/** Runs `ota serve` (the compiled binary) as a child process and finds its port. */
import { OTA_COMMAND } from "../helpers/mod.ts";

export interface ServeProcess {
  port: number;
  url: string;
  /** Everything it printed so far. */
  output(): string;
  /** SIGTERM, then waits for the exit; returns the exit code. */
  stop(): Promise<number>;
  child: Deno.ChildProcess;
}

/** Starts `[prefix...] <build under test> serve ARGS`; resolves once it listens. */
export async function startServe(
  args: string[],
  options: { prefix?: string[]; timeoutMs?: number } = {},
): Promise<ServeProcess> {
  const cmd = [...(options.prefix ?? []), ...OTA_COMMAND, "serve", ...args];
  if (cmd[0] === undefined) throw new Error("an empty command line");
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const pumping = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let match: RegExpExecArray | null = null;
  while (!(match = /serving .* on (https?:\/\/[^\s/]+)\/artifacts/.exec(text))) {
    if (Date.now() > deadline) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      throw new Error(`ota serve did not start:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = match[1]!; // the group is mandatory
  let stopped: Promise<number> | undefined;
  return {
    port: Number(url.split(":").pop()),
    url,
    output: () => text,
    child,
    stop() {
      stopped ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* gone */ }
        }, 10_000);
        const status = await child.status;
        clearTimeout(timer);
        await pumping;
        return status.code;
      })();
      return stopped;
    },
  };
}
