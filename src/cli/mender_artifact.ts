/**
 * Drop-in for mender-artifact 3.9. Invoked through a symlink of that name, ota takes its
 * command lines (Go flag spellings: `-artifact-name` as well as `--artifact-name`, the global
 * `--compression` before the command, `help CMD`) and answers with its exit codes, taken
 * from its source (cli/cli.go) and checked against the real binary:
 *   1  a failure, and a usage error (urfave/cli)
 *   2  `write` cannot create its output (errArtifactCreate)
 *   3  `read`/`validate`/`dump` cannot open the artifact (errArtifactOpen); an unknown command
 *   4  `validate` (or `dump`) finds the artifact invalid (errArtifactInvalid)
 * mender-artifact exits 0 for missing arguments and unreadable keys
 * (errArtifactInvalidParameters is 0); ota exits 1 there, so that a script checking an
 * artifact with a key it cannot read does not take it as valid.
 */
import process from "node:process";
import { type Command, CommanderError } from "commander";
import { fail, OtaError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { speakMenderArtifact } from "./dialect.ts";
import { isBrokenPipe } from "./broken_pipe.ts";

const commands = ["write", "read", "validate", "sign", "modify", "cp", "cat", "install", "rm"];
const writeKinds = ["rootfs-image", "module-image", "bootstrap-artifact"];

/** Flags of mender-artifact that take a value, by long and short name (Go's flag package). */
const valued = new Set([
  "file",
  "f",
  "device-type",
  "t",
  "artifact-name",
  "n",
  "output-path",
  "o",
  "version",
  "v",
  "key",
  "k",
  "script",
  "s",
  "artifact-name-depends",
  "N",
  "provides-group",
  "g",
  "depends-groups",
  "G",
  "depends",
  "d",
  "provides",
  "p",
  "clears-provides",
  "compression",
  "software-name",
  "software-version",
  "software-filesystem",
  "type",
  "T",
  "meta-data",
  "m",
  "server-uri",
  "u",
  "server-cert",
  "c",
  "verification-key",
  "name",
  "delete-clears-provides",
  "tenant-token",
  "mode",
  "files",
  "scripts",
  "augment-type",
  "augment-provides",
  "augment-depends",
  "augment-meta-data",
  "augment-file",
]); // deno-fmt-ignore

/** Letters that are switches in one command and take a value in others (`sign -f`). */
const switches: Record<string, string[]> = { sign: ["f"], install: ["d"] };

/** What ota does not do: signing services, snapshots over ssh, printed command lines. */
const unsupported = new Set([
  "gcp-kms-key",
  "vault-transit-key",
  "key-pkcs11",
  "ssh-args",
  "S",
  "print-cmdline",
  "print0-cmdline",
]); // deno-fmt-ignore

export class MenderArtifactExit extends Error {
  constructor(readonly exitCode: number, message: string) {
    super(message);
  }
}

function flagName(arg: string): string | undefined {
  const match = /^--?([A-Za-z][\w-]*)(=.*)?$/.exec(arg);
  return match?.[1];
}

/** `-artifact-name x` is Go's spelling of `--artifact-name x`; commander wants two dashes. */
function translateFlags(args: string[], command: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    const name = flagName(arg);
    if (name === undefined) {
      out.push(arg);
      continue;
    }
    if (unsupported.has(name)) {
      fail("NOT_SUPPORTED", `${command}: --${name} is not supported by ota`);
    }
    out.push(name.length > 1 && !arg.startsWith("--") ? `-${arg}` : arg);
    const takesValue = valued.has(name) && !switches[command]?.includes(name);
    if (takesValue && !arg.includes("=") && i + 1 < args.length) out.push(args[++i]!);
  }
  return out;
}

/** Translates a mender-artifact command line into ota's; fails like the tool on a bad one. */
export function translateMenderArtifactArgs(argv: string[]): string[] {
  const globals: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = flagName(arg);
    if (name === "compression") {
      globals.push(
        "--compression",
        arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[++i]!,
      );
    } else if (name === "version" || name === "v") {
      return ["--version"];
    } else if (name === "help" || name === "h") {
      return ["artifact", "--help"];
    } else if (name !== undefined) {
      throw new MenderArtifactExit(1, `Incorrect Usage. flag provided but not defined: ${arg}`);
    } else break;
  }
  const command = argv[i];
  const rest = argv.slice(i + 1);
  if (command === undefined) return ["artifact", "--help"];
  if (command === "help" || command === "h") {
    const topic = rest[0];
    if (topic === undefined) return ["artifact", "--help"];
    if (!commands.includes(topic) && topic !== "dump") {
      throw new MenderArtifactExit(3, `No help topic for '${topic}'`);
    }
    return ["artifact", topic, "--help"];
  }
  if (command === "dump") return ["artifact", "dump", ...translateFlags(rest, command)];
  if (!commands.includes(command)) {
    throw new MenderArtifactExit(3, `No help topic for '${command}'`);
  }
  if (command === "write") {
    const kind = rest[0];
    if (kind === undefined || ["help", "h", "--help", "-h"].includes(kind)) {
      return ["artifact", "write", "--help"];
    }
    if (!writeKinds.includes(kind)) throw new MenderArtifactExit(3, `No help topic for '${kind}'`);
    return ["artifact", "write", kind, ...translateFlags(rest.slice(1), kind), ...globals];
  }
  const compression = ["modify", "cp"].includes(command) ? globals : [];
  return ["artifact", command, ...translateFlags(rest, command), ...compression];
}

/** mender-artifact's exit code for a failure of `command`. */
export function menderArtifactExitCode(command: string | undefined, error: unknown): number {
  if (error instanceof MenderArtifactExit) return error.exitCode;
  if (isBrokenPipe(error)) return 0;
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 1;
  if (!(error instanceof OtaError)) return 1;
  if (command === "dump") return error.code === "FILE_READ" ? 3 : 4;
  if (command === "read" || command === "validate") {
    if (error.code === "FILE_READ") return 3;
    if (command === "read") return 1;
    const usage = ["KEY_INVALID", "KEY_UNSUPPORTED", "FILE_UNREADABLE", "BAD_ARGUMENTS"];
    return usage.includes(error.code) ? 1 : 4;
  }
  if (command === "write" && error.code === "FILE_WRITE") return 2;
  return 1;
}

export const menderArtifactVersion = `mender-artifact version 3.9.0 (ota ${VERSION})`;

/** Switches the artifact commands to mender-artifact's dialect. */
export function startMenderArtifact(): void {
  speakMenderArtifact();
}

/** Runs a mender-artifact command line on ota's commands; resolves with the exit code. */
export async function runMenderArtifact(
  argv: string[],
  program: (argv: string[]) => Promise<Command>,
  report: (error: unknown) => void,
): Promise<number> {
  let translated: string[];
  try {
    translated = translateMenderArtifactArgs(argv);
  } catch (error) {
    if (error instanceof MenderArtifactExit) process.stderr.write(`${error.message}\n`);
    else report(error);
    return menderArtifactExitCode(undefined, error);
  }
  if (translated[0] === "--version") {
    process.stdout.write(`${menderArtifactVersion}\n`);
    return 0;
  }
  startMenderArtifact();
  try {
    await (await program(translated)).parseAsync(translated, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    report(error);
    return menderArtifactExitCode(translated[1], error);
  }
}
