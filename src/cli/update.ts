/**
 * The device commands, as Mender's standalone mode has them: install, commit, rollback,
 * resume, show-artifact, show-provides. Messages and exit codes are Mender's.
 */
import process from "node:process";
import { Command } from "commander";
import { loadConfig } from "../device/config.ts";
import type { DeviceLocations } from "../device/defaults.ts";
import { showArtifactName, storedProvides } from "../device/identity.ts";
import { provideLines } from "../device/provides.ts";
import { createLogger, type Level, parseLevel } from "../log.ts";
import { createEngine, type Engine } from "../update/context.ts";
import { collectStopBefore, type StopPoint, stopPoints } from "../update/stop_before.ts";
import { commit, install, type Outcome, resume, rollback } from "../update/standalone.ts";
import { addLocationOptions, locate } from "./device_options.ts";
import { createProgress, type ProgressMode } from "./progress.ts";
import { collect } from "./options.ts";
import { type PeerInstallFlags, peerInstallOptions } from "./peer_install.ts";

export interface DeviceOptions extends DeviceLocations {
  logLevel: Level;
  logFile?: string;
  trustedCerts?: string;
  skipverify?: boolean;
}

export function addDeviceOptions(command: Command): Command {
  return addLocationOptions(command)
    .option(
      "-l, --log-level <level>",
      "trace, debug, info, warning, error, fatal or panic",
      parseLevel,
      "info",
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
  const log = createLogger(o.logLevel, undefined, o.logFile);
  const config = await loadConfig(o.config, o.fallbackConfig, log.debug);
  if (o.trustedCerts) config.ServerCertificate = o.trustedCerts;
  if (o.skipverify) config.SkipVerify = true;
  return createEngine(config, o.data, log, createProgress(progress));
}

interface InstallFlags {
  rebootExitCode?: boolean;
  stopBefore?: StopPoint[];
}

/** Mender 5's --stop-before, on install, resume, commit and rollback. */
function addStopBefore(command: Command, what: string): Command {
  return command.option(
    "--stop-before <state>",
    `${what} (repeatable): ${stopPoints.join(", ")}`,
    collectStopBefore,
  );
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
    .option("--keep-max <size>", "with --keep-for-peers: most bytes DIR may hold (e.g. 8GiB)");
  addStopBefore(installCmd, "stop before this state; 'resume' continues")
    .addHelpText(
      "after",
      `
Examples:
  ota install /media/usb/release-2.mender && reboot      then, on the new system: ota commit
  ota install https://updates.example.com/release-2.mender --progress=json
  ota install --stop-before ArtifactCommit_Enter ./app-1.mender  then: ota resume
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

  const commitCmd = addStopBefore(
    addDeviceOptions(new Command("commit")),
    "stop before this state",
  )
    .description("make the installed update permanent (after rebooting into it)")
    .addHelpText(
      "after",
      `
Example:
  ota commit     # exit 0: committed; 1: failed (the update was rolled back); 2: nothing to commit`,
    )
    .action(async (o: DeviceOptions & InstallFlags) =>
      report(await commit(await engineFor(o, globals().progress), { stopBefore: o.stopBefore }))
    );

  const rollbackCmd = addStopBefore(
    addDeviceOptions(new Command("rollback")),
    "stop before this state",
  )
    .description("undo the installed but uncommitted update")
    .addHelpText(
      "after",
      `
Example:
  ota rollback && reboot     # back to the previous system`,
    )
    .action(async (o: DeviceOptions & InstallFlags) =>
      report(await rollback(await engineFor(o, globals().progress), { stopBefore: o.stopBefore }))
    );

  const resumeCmd = addStopBefore(
    addDeviceOptions(new Command("resume")),
    "stop again before this state",
  )
    .description("continue a paused update, or finish one a power cut interrupted")
    .addHelpText(
      "after",
      `
Examples:
  ota resume                 # after 'install --stop-before ...', or at boot after a power cut
  ota resume --stop-before ArtifactCommit_Enter --stop-before Cleanup`,
    )
    .action(async (o: DeviceOptions & InstallFlags) =>
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
      console.log(
        await showArtifactName(
          (await locate(o, createLogger(o.logLevel, undefined, o.logFile).debug)).paths,
        ),
      );
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
      const provides = await storedProvides(
        (await locate(o, createLogger(o.logLevel, undefined, o.logFile).debug)).paths,
      );
      for (const line of provideLines(provides)) console.log(line);
    });

  return [installCmd, commitCmd, rollbackCmd, resumeCmd, showArtifact, showProvides];
}
