/**
 * The command line: builds the commands, runs one, and turns any failure into one line
 * with a stable code and Mender's exit code (a stack trace only with --debug).
 */
import process from "node:process";
import { Command, CommanderError, Option } from "commander";
import { ExitCode, OtaError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { artifactCommands, commandAt, entriesFor, topCommands } from "./commands.ts";
import { parseProgressMode, type ProgressMode } from "./progress.ts";
import { translateMenderArgs } from "./mender_compat.ts";
import { checkCommandNames } from "./unknown_command.ts";
import { exitQuietlyOnBrokenPipe, isBrokenPipe, pipeBroken } from "./broken_pipe.ts";

export interface GlobalOptions {
  debug?: boolean;
  progress: ProgressMode;
}

/**
 * The program for `argv`: the root, and of its commands only those the command line names
 * (all of them for help or a name that does not exist, so both read as they always did).
 */
export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command("ota")
    .description(
      "Mender-compatible over-the-air updates: artifacts, A/B root filesystems, Update Modules",
    )
    .version(VERSION, "--version", "print the version")
    .option("--debug", "show stack traces and debug logs")
    .addOption(
      new Option("--progress <mode>", "progress output: auto, bar, json or none")
        .default("auto")
        .argParser(parseProgressMode),
    )
    .showHelpAfterError("(run with --help for usage and examples)")
    .exitOverride();
  const context = { progressMode: () => program.opts<GlobalOptions>().progress };
  const load = async (entries: typeof topCommands) =>
    (await Promise.all(entries.map((e) => e.load(context)))).flat();

  const at = commandAt(argv, ["--progress"]);
  const word = at < 0 ? undefined : argv[at];
  if (
    word === undefined || word === "artifact" || !topCommands.some((e) => e.names.includes(word))
  ) {
    const artifact = new Command("artifact")
      .description("write, read, validate and sign Mender Artifacts")
      .addHelpText(
        "after",
        `
Examples:
  ota artifact write rootfs-image -n release-2 -t raspberrypi4 -f rootfs.ext4
  ota artifact read release-2.mender
  ota artifact validate -k verify.pem release-2.mender
  ota artifact sign -k signing.key release-2.mender
  ota artifact modify -u https://mender.example.com -n release-2.1 release-2.mender
  ota artifact cat release-2.mender:/etc/mender/mender.conf`,
      );
    const rest = argv.slice(at + 1);
    const sub = word === "artifact" && commandAt(rest) >= 0 ? rest[commandAt(rest)] : undefined;
    for (const command of await load(entriesFor(artifactCommands, sub))) {
      artifact.addCommand(command);
    }
    program.addCommand(artifact);
  }
  if (word !== "artifact") {
    for (const command of await load(entriesFor(topCommands, word))) program.addCommand(command);
  }

  program.addHelpText(
    "after",
    `
Examples:
  ota install https://updates.example.com/release-2.mender   then reboot, then: ota commit
  ota artifact write rootfs-image -n release-2 -t my-board -f rootfs.ext4
  ota artifact read release-2.mender`,
  );
  for (const command of allCommands(program)) command.exitOverride();
  return program;
}

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

/** Prints an error the way a person can act on it; returns the exit code. */
export function reportError(error: unknown, debug: boolean): number {
  if (isBrokenPipe(error)) return ExitCode.ok;
  if (error instanceof CommanderError) {
    // commander already printed the usage problem (or the help/version it was asked for).
    return error.exitCode === 0 ? ExitCode.ok : ExitCode.failed;
  }
  if (error instanceof OtaError) {
    process.stderr.write(`ota: ${error.message} [${error.code}]\n`);
    if (debug) process.stderr.write(`${error.stack}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`ota: unexpected error: ${message} [INTERNAL]\n`);
  if (debug && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  else process.stderr.write("ota: run again with --debug for details\n");
  return ExitCode.failed;
}

/**
 * The name ota was started as: `mender` and `mender-update` symlinks speak Mender's dialect,
 * `mender-auth` Mender 4's auth tool (mender_auth.ts), a `mender-artifact` symlink that tool's.
 */
export function invokedAs(): string {
  return (process.argv0 ?? "ota").split("/").pop() ?? "ota";
}

export async function run(argv: string[], name = invokedAs()): Promise<number> {
  exitQuietlyOnBrokenPipe();
  const code = await runAs(argv, name);
  return pipeBroken() ? ExitCode.ok : code;
}

async function runAs(argv: string[], name: string): Promise<number> {
  if (name === "mender-artifact") {
    // The dialects load their modules only when ota runs under their names.
    const { runMenderArtifact } = await import("./mender_artifact.ts");
    return await runMenderArtifact(argv, buildProgram, (error) => reportError(error, false));
  }
  if (name === "mender-auth") {
    try {
      return await (await import("./mender_auth.ts")).runMenderAuth(argv);
    } catch (error) {
      return reportError(error, false);
    }
  }
  if (name === "mender" || name === "mender-update") {
    try {
      argv = translateMenderArgs(argv, name);
    } catch (error) {
      return reportError(error, false);
    }
  }
  try {
    const program = await buildProgram(argv);
    checkCommandNames(program, argv);
    await program.parseAsync(argv, { from: "user" });
    // commands that end with a non-zero Mender exit code (2: nothing in progress) set it here
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
  } catch (error) {
    return reportError(error, argv.includes("--debug"));
  }
}
