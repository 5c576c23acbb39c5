/**
 * Predictable causes never end in a stack trace or INTERNAL, against the compiled binary:
 * output into a closed pipe ends quietly, bad option values and missing input files give
 * one coded line, Mender's log level names all work, and a command name that does not
 * exist is an error even when --help follows it (a script probing for a feature must not
 * be told yes).
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { BINARY, ota, pseudoRandomBytes, run, sh, tempDir } from "../helpers/mod.ts";
import { fixture } from "./fixture.ts";

function oneCodedLine(stderr: string, code: string): void {
  const lines = stderr.trim().split("\n");
  assertEquals(lines.length, 1, stderr);
  assertMatch(lines[0]!, new RegExp(`^ota: .+ \\[${code}\\]$`));
}

/**
 * Runs `ota ARGS | READER` in bash; returns ota's own exit status, what it printed on stderr
 * and what it left in its TMPDIR.
 */
async function intoPipe(args: string[], reader: string) {
  const script = `"$@" 2>"$ERR" | ${reader} >/dev/null; echo "\${PIPESTATUS[0]}"`;
  await using dir = await tempDir();
  const err = `${dir.path}/stderr`;
  const tmp = `${dir.path}/tmp`;
  await Deno.mkdir(tmp);
  const out = await run(["bash", "-c", script, "bash", BINARY, ...args], {
    env: { ERR: err, TMPDIR: tmp },
  });
  const left = [...Deno.readDirSync(tmp)].map((e) => e.name);
  return { status: out.stdout.trim(), stderr: await Deno.readTextFile(err), left };
}

Deno.test("output into a closed pipe ends quietly with exit 0", async () => {
  await using dir = await tempDir();
  const payload = `${dir.path}/big.bin`;
  await Deno.writeFile(payload, pseudoRandomBytes(2 << 20, 4));
  const artifact = `${dir.path}/a.mender`;
  await sh([
    "mender-artifact",
    "write",
    "module-image",
    "-T",
    "blob",
    "-n",
    "a-1",
    "-t",
    "board",
    "-f",
    payload,
    "-o",
    artifact,
  ]); // deno-fmt-ignore
  // the reader closes its end before ota writes a byte
  const closed = "{ exec 0<&-; sleep 1; }";
  for (
    const [args, reader] of [
      [["--help"], closed],
      [["artifact", "--help"], "true"],
      [["artifact", "read", artifact], closed],
      [["artifact", "cat", `${artifact}:big.bin`], "head -c 10"],
    ] as const
  ) {
    const result = await intoPipe([...args], reader);
    assertEquals(
      result,
      { status: "0", stderr: "", left: [] },
      `ota ${args.join(" ")} | ${reader}`,
    );
  }
});

Deno.test("bad option values and missing inputs: one coded line, exit 1", async () => {
  await using dir = await tempDir();
  const missing = await ota([
    "artifact",
    "write",
    "rootfs-image",
    "-n",
    "x",
    "-t",
    "b",
    "-f",
    `${dir.path}/none.ext4`,
    "-o",
    `${dir.path}/x.mender`,
  ]); // deno-fmt-ignore
  assertEquals(missing.code, 1);
  oneCodedLine(missing.stderr, "FILE_READ");
  const unwritable = await ota([
    "artifact",
    "write",
    "module-image",
    "-T",
    "m",
    "-n",
    "x",
    "-t",
    "b",
    "-o",
    `${dir.path}/no/such/dir/x.mender`,
  ]); // deno-fmt-ignore
  assertEquals(unwritable.code, 1);
  oneCodedLine(unwritable.stderr, "FILE_WRITE");
  for (const args of [["--progress", "loud", "artifact", "read", "x"], ["--progress=9"]]) {
    const bad = await ota(args);
    assertEquals(bad.code, 1, args.join(" "));
    oneCodedLine(bad.stderr, "BAD_ARGUMENTS");
  }
  for (const level of ["loud", "constructor", "__proto__"]) {
    const bad = await ota(["show-artifact", "-l", level]);
    assertEquals(bad.code, 1, level);
    oneCodedLine(bad.stderr, "BAD_ARGUMENTS");
  }
  const modify = await ota(["artifact", "modify", `${dir.path}/none.mender`]);
  assertEquals(modify.code, 1);
  oneCodedLine(modify.stderr, "FILE_READ");
});

Deno.test("Mender's log levels work, in any case, as -l and --log-level", async () => {
  await using f = await fixture();
  const levels = ["panic", "fatal", "error", "warning", "warn", "info", "debug", "trace", "DEBUG"];
  for (const level of levels) {
    for (const flag of ["-l", "--log-level"]) {
      const result = await f.ota("show-artifact", flag, level);
      assertEquals(result.code, 0, `${flag} ${level}: ${result.stderr}`);
    }
  }
  // trace is debug: the same lines
  const trace = await f.ota("show-provides", "-l", "trace");
  const debug = await f.ota("show-provides", "-l", "debug");
  assertEquals(trace.stderr, debug.stderr);
});

Deno.test("an unknown command is an error, with or without --help", async () => {
  for (
    const args of [
      ["bogus"],
      ["bogus", "--help"],
      ["artifact", "bogus", "--help"],
      ["artifact", "write", "bogus", "--help"],
      ["--progress", "json", "artifact", "bogus", "--help"],
      ["help", "bogus"],
    ]
  ) {
    const result = await ota(args);
    assertEquals(result.code, 1, args.join(" "));
    assertEquals(result.stdout, "", `${args.join(" ")} printed help`);
    oneCodedLine(result.stderr, "UNKNOWN_COMMAND");
  }
  for (const command of ["modify", "cp", "cat", "install", "rm"]) {
    const help = await ota(["artifact", command, "--help"]);
    assertEquals(help.code, 0, help.stderr);
    assert(help.stdout.startsWith(`Usage: ota artifact ${command}`), help.stdout);
  }
});
