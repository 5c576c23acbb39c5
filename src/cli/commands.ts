/**
 * ota's commands by name, each module loaded only when a command line needs it: `ota
 * artifact read` does not load the server, the update machine or the xz writer. Help and
 * unknown names load every command, so that they read as before.
 */
import type { Command } from "commander";
import type { ProgressMode } from "./progress.ts";

export interface CommandContext {
  progressMode: () => ProgressMode;
}

export interface CommandEntry {
  /** The names the module's commands have, in the order they are added. */
  names: readonly string[];
  load(context: CommandContext): Promise<Command[]>;
}

/** The `artifact` subcommands, in the order help lists them. */
export const artifactCommands: CommandEntry[] = [
  {
    names: ["write"],
    load: async (c) => [(await import("./artifact_write.ts")).artifactWriteCommand(c.progressMode)],
  },
  {
    names: ["read", "validate"],
    load: async (c) => {
      const m = await import("./artifact_read.ts");
      return [m.artifactReadCommand(c.progressMode), m.artifactValidateCommand(c.progressMode)];
    },
  },
  {
    names: ["sign"],
    load: async () => [(await import("./artifact_sign.ts")).artifactSignCommand()],
  },
  {
    names: ["dump"],
    load: async () => [(await import("./artifact_dump.ts")).artifactDumpCommand()],
  },
  {
    names: ["modify"],
    load: async () => [(await import("./artifact_modify.ts")).artifactModifyCommand()],
  },
  {
    names: ["cp", "cat", "install", "rm"],
    load: async () => {
      const m = await import("./artifact_files.ts");
      return [
        m.artifactCpCommand(),
        m.artifactCatCommand(),
        m.artifactInstallCommand(),
        m.artifactRmCommand(),
      ];
    },
  },
];

/** The commands after `artifact`, in the order help lists them. */
export const topCommands: CommandEntry[] = [
  {
    names: ["install", "commit", "rollback", "resume", "show-artifact", "show-provides"],
    load: async (c) =>
      (await import("./update.ts")).updateCommands(() => ({ progress: c.progressMode() })),
  },
  {
    names: ["daemon", "check-update", "send-inventory"],
    load: async () => (await import("./daemon.ts")).daemonCommands(),
  },
  { names: ["serve"], load: async () => [(await import("./serve.ts")).serveCommand()] },
  { names: ["module"], load: async () => [(await import("./module.ts")).moduleCommand()] },
  {
    names: ["install-modules"],
    load: async () => [(await import("./install_modules.ts")).installModulesCommand()],
  },
  {
    names: ["peers"],
    load: async (c) => [(await import("./peers.ts")).peersCommand(c.progressMode)],
  },
];

/**
 * Where the first command word in `argv` is at one level, skipping options (and the value of
 * each option in `withValue`); -1 when there is none or `--help` comes first.
 */
export function commandAt(argv: string[], withValue: readonly string[] = []): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--" || arg === "-h" || arg === "--help") return -1;
    if (!arg.startsWith("-")) return i;
    if (withValue.includes(arg)) i++;
  }
  return -1;
}

/** The entries `word` selects: its own, or all of them for help and unknown names. */
export function entriesFor(entries: CommandEntry[], word: string | undefined): CommandEntry[] {
  const own = entries.find((e) => word !== undefined && e.names.includes(word));
  return own ? [own] : entries;
}
