/**
 * The device commands, as Mender's standalone mode has them: install, commit, rollback,
 * resume, show-artifact, show-provides. Messages and exit codes are Mender's.
 */
import process from "node:process";
import { Command } from "commander";
import { loadConfig } from "../device/config.ts";
import { readArtifactInfo } from "../device/artifact_info.ts";
import { fail } from "../errors.ts";
import { createLogger, type Level, parseLevel } from "../log.ts";
import { createEngine, type Engine, loadStore } from "../update/engine.ts";
import { parseStopBefore } from "../update/machine.ts";
import { commit, install, resume, rollback } from "../update/standalone.ts";
import type { Outcome } from "../update/machine.ts";
import { createProgress, type ProgressMode } from "./progress.ts";
import { collect } from "./options.ts";
import { type PeerInstallFlags, peerInstallOptions } from "./peer_install.ts";

export interface DeviceOptions {
  config: string;
  fallbackConfig: string;
  data: string;
  logLevel: Level;
  logFile?: string;
  trustedCerts?: string;
  skipverify?: boolean;
}

/** Where Mender looks by default; MENDER_CONF_DIR / MENDER_DATA_DIR move them, as in Mender 4. */
export function deviceDefaults(env = process.env): DeviceOptions {
  const confDir = env.MENDER_CONF_DIR ?? "/etc/mender";
  const dataDir = env.MENDER_DATA_DIR ?? "/var/lib/mender";
  return {
    config: `${confDir}/mender.conf`,
    fallbackConfig: `${dataDir}/mender.conf`,
    data: dataDir,
    logLevel: "info",
  };
}

export function addDeviceOptions(command: Command): Command {
  const d = deviceDefaults();
  return command
    .option("-c, --config <file>", "configuration file (mender.conf)", d.config)
    .option("-b, --fallback-config <file>", "fallback configuration file", d.fallbackConfig)
    .option("-d, --data <dir>", "data directory: state, logs, module work trees", d.data)
    .option(
      "-l, --log-level <level>",
      "trace, debug, info, warning, error, fatal or panic",
      parseLevel,
      d.logLevel,
    )
    .option("-L, --log-file <file>", "also append the log to FILE")
    .option(
      "-E, --trusted-certs <file>",
      "trust this server certificate (overrides ServerCertificate)",
    )
    .option("--skipverify", "skip TLS certificate verification (SkipVerify)")
    .option("--no-syslog", "accepted for Mender's command lines; ota logs to stderr");
}

export async function engineFor(o: DeviceOptions, progress: ProgressMode): Promise<Engine> {
  const config = await loadConfig(o.config, o.fallbackConfig);
  if (o.trustedCerts) config.ServerCertificate = o.trustedCerts;
  if (o.skipverify) config.SkipVerify = true;
  return createEngine(
    config,
    o.data,
    createLogger(o.logLevel, undefined, o.logFile),
    createProgress(progress),
  );
}

interface InstallFlags {
  rebootExitCode?: boolean;
  stopBefore?: string;
}

function report(outcome: Outcome): void {
  for (const line of outcome.messages) console.log(line);
  process.exitCode = outcome.exitCode;
}

/** The root options are read through this, so subcommands see the global --progress. */
type Globals = () => { progress: ProgressMode };

export function updateCommands(globals: Globals): Command[] {
  const installCmd = addDeviceOptions(new Command("install"))
    .description("install an artifact from a file or an http(s) URL (then reboot and commit)")
    .argument("[uri]", "path, file:// or http(s):// URL of a .mender artifact")
    .option("--reboot-exit-code", "exit with 4 when a reboot is needed to finish")
    .option(
      "--from-peer [artifact]",
      "install from peers on the LAN ('ota serve'): the one that fits",
    )
    .option("--peer <url>", "with --from-peer: also ask this server (repeatable)", collect)
    .option("--peer-token <token>", "with --from-peer: the token the peers require")
    .option(
      "--keep-for-peers <dir>",
      "keep a verified copy in DIR, to serve it on ('ota serve DIR')",
    )
    .option("--keep-max <size>", "with --keep-for-peers: most bytes DIR may hold (e.g. 8GiB)")
    .option(
      "--stop-before <state>",
      "pause before ArtifactInstall or ArtifactCommit; 'resume' continues",
      parseStopBefore,
    )
    .addHelpText(
      "after",
      `
Examples:
  ota install /media/usb/release-2.mender && reboot      then, on the new system: ota commit
  ota install https://updates.example.com/release-2.mender --progress=json
  ota install --stop-before ArtifactCommit ./app-1.mender  then: ota resume
  ota install --from-peer --keep-for-peers /data/updates   from the LAN, then pass it on`,
    )
    .action(
      async (uri: string | undefined, o: DeviceOptions & InstallFlags & PeerInstallFlags) => {
        const engine = await engineFor(o, globals().progress);
        const peerOptions = await peerInstallOptions(engine, uri, o);
        console.log("Installing artifact...");
        report(
          await install(engine, uri ?? "", {
            rebootExitCode: o.rebootExitCode,
            stopBefore: o.stopBefore,
            ...peerOptions,
          }),
        );
      },
    );

  const commitCmd = addDeviceOptions(new Command("commit"))
    .description("make the installed update permanent (after rebooting into it)")
    .addHelpText(
      "after",
      `
Example:
  ota commit     # exit 0: committed; 1: failed (the update was rolled back); 2: nothing to commit`,
    )
    .action(async (o: DeviceOptions) =>
      report(await commit(await engineFor(o, globals().progress)))
    );

  const rollbackCmd = addDeviceOptions(new Command("rollback"))
    .description("undo the installed but uncommitted update")
    .addHelpText(
      "after",
      `
Example:
  ota rollback && reboot     # back to the previous system`,
    )
    .action(async (o: DeviceOptions) =>
      report(await rollback(await engineFor(o, globals().progress)))
    );

  const resumeCmd = addDeviceOptions(new Command("resume"))
    .description("continue a paused update, or finish one a power cut interrupted")
    .option("--stop-before <state>", "pause again before this state", parseStopBefore)
    .addHelpText(
      "after",
      `
Examples:
  ota resume                 # after 'install --stop-before ...', or at boot after a power cut
  ota resume --stop-before ArtifactCommit`,
    )
    .action(async (o: DeviceOptions & { stopBefore?: string }) =>
      report(await resume(await engineFor(o, globals().progress), { stopBefore: o.stopBefore }))
    );

  const showArtifact = addDeviceOptions(new Command("show-artifact"))
    .description("print the name of the installed artifact")
    .addHelpText(
      "after",
      `
Example:
  ota show-artifact          # e.g. release-2 (before the first update: artifact_info's name)`,
    )
    .action(async (o: DeviceOptions) => {
      const engine = await engineFor(o, "none");
      const stored = (await loadStore(engine.paths.dataDir)).artifactName;
      // Before the first update, the build's name; without one, 3.4's error and exit code.
      const info = stored ? undefined : await readArtifactInfo(engine.config.ArtifactInfoFile);
      if (info && !info.name) fail("ARTIFACT_INFO_INVALID", info.problem ?? "no artifact name");
      console.log(stored ?? info?.name);
    });

  const showProvides = addDeviceOptions(new Command("show-provides"))
    .description("print what the device provides (key=value lines)")
    .addHelpText(
      "after",
      `
Example:
  ota show-provides          # artifact_name=release-2, rootfs-image.version=release-2, ...
                             # (nothing on a device never updated, as Mender prints)`,
    )
    .action(async (o: DeviceOptions) => {
      const engine = await engineFor(o, "none");
      // What the store holds, as 3.4 prints it: nothing on a device never updated.
      const store = await loadStore(engine.paths.dataDir);
      const provides: Record<string, string> = { ...store.provides };
      if (store.artifactName) provides.artifact_name = store.artifactName;
      if (store.artifactGroup) provides.artifact_group = store.artifactGroup;
      for (const key of Object.keys(provides).sort()) console.log(`${key}=${provides[key]}`);
    });

  return [installCmd, commitCmd, rollbackCmd, resumeCmd, showArtifact, showProvides];
}
