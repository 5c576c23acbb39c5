/**
 * Commander prints a parent's help and exits 0 for `ota artifact bogus --help`, because it
 * answers --help before it looks at the command name. A script probing for a feature
 * (`ota artifact modify --help >/dev/null && ...`) must not be told yes, so every command
 * name on the line is checked first.
 */
import type { Command } from "commander";
import { fail } from "../errors.ts";

function takesValue(command: Command, flag: string): boolean {
  const option = command.options.find((o) => o.long === flag || o.short === flag);
  return option !== undefined && (option.required || option.optional);
}

function names(command: Command): string[] {
  return command.commands.flatMap((c) => [c.name(), ...c.aliases()]);
}

/** Fails with BAD_ARGUMENTS when `argv` names a subcommand that does not exist. */
export function checkCommandNames(program: Command, argv: string[]): void {
  let command = program;
  const path: string[] = [];
  for (let i = 0; i < argv.length && command.commands.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return;
    if (arg.startsWith("-")) {
      if (!arg.includes("=") && takesValue(command, arg)) i++;
      continue;
    }
    if (arg === "help") {
      // `ota help artifact write`: the names after it must exist as well
      path.push(arg);
      continue;
    }
    const next = command.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!next) {
      const where = ["ota", ...path.filter((p) => p !== "help")].join(" ");
      fail(
        "UNKNOWN_COMMAND",
        `'${arg}' is not a command of '${where}'; it has: ${names(command).join(", ")}`,
      );
    }
    path.push(arg);
    command = next;
  }
}
