/** Running commands from the examples (Deno scripts). */

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(
  cmd: string[],
  options: { stdin?: string; env?: Record<string, string>; cwd?: string } = {},
): Promise<Result> {
  if (cmd[0] === undefined) throw new Error("an empty command line");
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: options.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
    cwd: options.cwd,
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

export async function sh(cmd: string[], options: Parameters<typeof run>[1] = {}): Promise<string> {
  const result = await run(cmd, options);
  if (result.code !== 0) {
    throw new Error(`${cmd.join(" ")} exited ${result.code}: ${result.stderr || result.stdout}`);
  }
  return result.stdout;
}
