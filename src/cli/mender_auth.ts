/**
 * ota as Mender 4's `mender-auth` (a symlink named so): its global options, `--version`,
 * its help, and its two commands. `bootstrap` makes the device key when there is none (a new
 * one with --forcebootstrap) and authenticates once with the server, reporting the outcome
 * as Mender does (exit 0 either way); `daemon` makes the key and then serves the device's
 * token to add-ons over D-Bus (io.mender.Authentication1), as Mender 4's auth daemon does.
 * Whatever else Mender's mender-auth would take is refused with a message naming it.
 */
import { readFile } from "node:fs/promises";
import process from "node:process";
import { type Config, serverUrls } from "../device/config.ts";
import { fail, OtaError } from "../errors.ts";
import { createLogger, type Logger, parseLevel } from "../log.ts";
import { createDeviceApi } from "../managed/api.ts";
import { runAuthDaemon } from "../managed/auth_daemon.ts";
import { loadDeviceKey } from "../managed/key.ts";
import { VERSION } from "../version.ts";
import { locate } from "./device_options.ts";
import { deviceDefaults } from "../device/defaults.ts";

interface Globals {
  config?: string;
  fallbackConfig?: string;
  data?: string;
  logFile?: string;
  logLevel?: string;
  trustedCerts?: string;
  skipVerify?: boolean;
}

const valued: Record<string, keyof Globals> = {
  "--config": "config",
  "-c": "config",
  "--fallback-config": "fallbackConfig",
  "-b": "fallbackConfig",
  "--data": "data",
  "-d": "data",
  "--log-file": "logFile",
  "-L": "logFile",
  "--log-level": "logLevel",
  "-l": "logLevel",
  "--trusted-certs": "trustedCerts",
  "-E": "trustedCerts",
};

const COMMANDS = {
  bootstrap: "Perform bootstrap and exit",
  daemon: "Start the client as a background service",
} as const;
type AuthCommand = keyof typeof COMMANDS;

function help(): string {
  const d = deviceDefaults();
  return `NAME:
   mender-auth - manage and start Mender Auth

USAGE:
   mender-auth [global options] command [command options] [arguments...]

VERSION:
   ${VERSION} (ota)

DESCRIPTION:
   mender-auth integrates both the mender-auth daemon and commands for manually
   performing tasks performed by the daemon (see list of COMMANDS below).
   This is ota answering as mender-auth: the daemon serves io.mender.Authentication1
   on the system D-Bus; 'ota daemon' authenticates by itself and needs neither.
Global flag remarks:
   - Supported log levels incudes: 'trace', 'debug', 'info', 'warning', 'error', and
     'fatal'.

COMMANDS:
   bootstrap  ${COMMANDS.bootstrap}
   daemon     ${COMMANDS.daemon}

GLOBAL OPTIONS:
   --config FILE, -c FILE           Configuration FILE path (default: ${d.config})
   --fallback-config FILE, -b FILE  Fallback configuration FILE path (default: ${d.fallbackConfig})
   --data DIR, -d DIR               Mender state data DIRECTORY path (default: ${d.data})
   --log-file FILE, -L FILE         FILE to log to
   --log-level LEVEL, -l LEVEL      Set logging level (default: info)
   --trusted-certs FILE, -E FILE    Trusted server certificates FILE path
   --skipverify                     Skip certificate verification
   --version, -v                    Print version and exit
   --help, -h                       Show help and exit
`;
}

function commandHelp(name: AuthCommand): string {
  return `NAME:
   mender-auth ${name} - ${COMMANDS[name]}

OPTIONS:
   --forcebootstrap, -F    Force bootstrap
   --passphrase-file FILE  Passphrase file for decrypting an encrypted private key. '-'
                           loads passphrase from stdin (default: '')
   --help, -h              Show help and exit
`;
}

/** `--opt=value` or `--opt value`. */
function split(argv: string[], i: number): [string, string | undefined] {
  const arg = argv[i]!;
  const eq = arg.indexOf("=");
  return arg.startsWith("-") && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
}

function usage(message: string, text: string): OtaError {
  process.stdout.write(text);
  return new OtaError("BAD_ARGUMENTS", message);
}

export async function runMenderAuth(argv: string[]): Promise<number> {
  const globals: Globals = {};
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith("-"); i++) {
    const [flag, inline] = split(argv, i);
    const key = Object.hasOwn(valued, flag) ? valued[flag] : undefined;
    if (key) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw usage(`Option ${flag} missing value`, help());
      (globals as Record<string, string>)[key] = value;
    } else if (flag === "--skipverify") globals.skipVerify = true;
    else if (flag === "--version" || flag === "-v") {
      if (argv.length > 1) {
        fail("BAD_ARGUMENTS", "--version can not be combined with other commands and arguments");
      }
      process.stdout.write(`${VERSION}\n`);
      return 0;
    } else if (flag === "--help" || flag === "-h") {
      process.stdout.write(help());
      return 0;
    } else throw usage(`Unrecognized option '${flag}'`, help());
  }
  const name = argv[i];
  if (name === undefined) throw usage("Need an action", help());
  if (!Object.hasOwn(COMMANDS, name)) throw usage(`No such action: ${name}`, help());
  const command = name as AuthCommand;
  let force = false;
  let passphraseFile: string | undefined;
  for (i++; i < argv.length; i++) {
    const [flag, inline] = split(argv, i);
    if (flag === "--help" || flag === "-h") {
      process.stdout.write(commandHelp(command));
      return 0;
    } else if (flag === "--forcebootstrap" || flag === "-F") force = true;
    else if (flag === "--passphrase-file") {
      passphraseFile = inline ?? argv[++i];
      if (passphraseFile === undefined) {
        throw usage("Option --passphrase-file missing value", commandHelp(command));
      }
    } else throw usage(`Unrecognized option '${flag}'`, commandHelp(command));
  }
  const d = deviceDefaults();
  const located = await locate({
    config: globals.config ?? d.config,
    fallbackConfig: globals.fallbackConfig ?? d.fallbackConfig,
    data: globals.data ?? d.data,
  });
  const config: Config = {
    ...located.config,
    ...(globals.trustedCerts ? { ServerCertificate: globals.trustedCerts } : {}),
    ...(globals.skipVerify ? { SkipVerify: true } : {}),
  };
  const log = createLogger(parseLevel(globals.logLevel ?? "info"), undefined, globals.logFile);
  const passphrase = passphraseFile === undefined || passphraseFile === ""
    ? undefined
    : (await readFile(passphraseFile === "-" ? "/dev/stdin" : passphraseFile, "utf8"))
      .split("\n")[0];
  const dataDir = located.paths.dataDir;
  if (command === "daemon" && !serverUrls(config).length) {
    log.error("Cannot run in daemon mode with no server URL specified");
    return 1;
  }
  const key = await loadDeviceKey(config, dataDir, log, { renew: force, passphrase });
  if (command === "daemon") {
    await runAuthDaemon({ config, key, log });
    return 0;
  }
  await authenticateOnce(config, key, log);
  return 0;
}

/** Mender's bootstrap: one authentication, its outcome logged; a failure is no exit code. */
async function authenticateOnce(
  config: Config,
  key: Awaited<ReturnType<typeof loadDeviceKey>>,
  log: Logger,
): Promise<void> {
  if (!serverUrls(config).length) {
    log.info("No server set in the configuration, skipping authentication");
    return;
  }
  const api = await createDeviceApi({ config, key, log });
  try {
    await api.authenticate();
    log.info(`Successfully authorized with the server '${api.server()}'`);
  } catch (error) {
    log.error((error as Error).message);
  }
}
