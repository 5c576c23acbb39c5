/**
 * Drop-in for Mender's command line. Invoked as `mender` (a symlink to ota), the 3.x forms
 * work: global options before the command, and the single-dash forms of older releases
 * (`mender -install URI`, `-rootfs URI`, `-commit`); invoked as `mender-update`, the 4.x
 * forms, including `--stop-before` and `resume`. Both are translated into ota's own
 * command line, so behaviour, messages and exit codes are the same.
 */
import { fail } from "../errors.ts";

export type Flavor = "mender" | "mender-update";

/** Global options that take a value, by every spelling Mender has used. */
const valued: Record<string, string> = {
  "-c": "--config",
  "--config": "--config",
  "-config": "--config",
  "-b": "--fallback-config",
  "--fallback-config": "--fallback-config",
  "-d": "--data",
  "--data": "--data",
  "-data": "--data",
  "--datastore": "--data",
  "-l": "--log-level",
  "--log-level": "--log-level",
  "-log-level": "--log-level",
  "-L": "--log-file",
  "--log-file": "--log-file",
  "-log-file": "--log-file",
  "-E": "--trusted-certs",
  "--trusted-certs": "--trusted-certs",
  "-trusted-certs": "--trusted-certs",
  "--passphrase-file": "",
};

/** Global switches: kept when ota has them, dropped when they mean nothing standalone. */
const switches: Record<string, string> = {
  "--skipverify": "--skipverify",
  "-skipverify": "--skipverify",
  "--no-syslog": "",
  "-no-syslog": "",
  "-F": "",
  "--forcebootstrap": "",
  "-forcebootstrap": "",
  "-debug": "--log-level=debug",
  "-info": "--log-level=info",
};

/** Old single-dash commands: `mender -rootfs URI` is `mender install URI`. */
const legacyCommands: Record<string, string> = {
  "-install": "install",
  "-rootfs": "install",
  "-commit": "commit",
  "-rollback": "rollback",
  "-show-artifact": "show-artifact",
  "-show-provides": "show-provides",
  "-daemon": "daemon",
  "-check-update": "check-update",
  "-send-inventory": "send-inventory",
};

const managed = ["daemon", "check-update", "send-inventory"];

const commands: Record<Flavor, string[]> = {
  "mender": ["install", "commit", "rollback", "show-artifact", "show-provides", ...managed],
  "mender-update": [
    "install",
    "resume",
    "commit",
    "rollback",
    "show-artifact",
    "show-provides",
    ...managed,
  ],
};

/** Mender commands that ota does not have (bootstrap and setup belong to mender-auth / mender-setup). */
const notSupported = ["bootstrap", "setup", "snapshot", "-bootstrap"];

/** Translates a Mender command line into ota's. */
export function translateMenderArgs(argv: string[], flavor: Flavor): string[] {
  const globals: string[] = [];
  let command: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!; // i < argv.length
    const [flag, inline] = arg.includes("=") && arg.startsWith("-")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    if (command === undefined) {
      const option = own(valued, flag);
      if (option !== undefined) {
        const value = inline ?? argv[++i];
        if (value === undefined) fail("BAD_ARGUMENTS", `${flag} needs a value`);
        if (option) globals.push(option, value);
        continue;
      }
      const toggle = own(switches, flag);
      if (toggle !== undefined) {
        if (toggle) globals.push(toggle);
        continue;
      }
      if (["-v", "--version", "-version"].includes(arg)) return ["--version"];
      if (["-h", "--help", "help", "-help"].includes(arg)) return ["--help"];
      const legacy = own(legacyCommands, arg);
      if (legacy !== undefined) {
        command = legacy;
        continue;
      }
      if (notSupported.includes(arg)) {
        fail(
          "NOT_SUPPORTED",
          `'${
            arg.replace(/^-/, "")
          }' is not part of ota as ${flavor}; 'ota daemon' makes its key on first start, and ota linked as mender-auth has 'bootstrap'`,
        );
      }
      if (commands[flavor].includes(arg)) {
        command = arg;
        continue;
      }
      fail(
        "BAD_ARGUMENTS",
        `${flavor}: unknown command or option ${JSON.stringify(arg)}; run '${flavor} --help'`,
      );
    }
    rest.push(arg);
  }
  if (command === undefined) return ["--help"];
  return [command, ...globals, ...rest];
}

/** The table's own entry for `key` (never one inherited from Object, such as "constructor"). */
function own(table: Record<string, string>, key: string): string | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}
