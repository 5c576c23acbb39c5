/**
 * `ota module <name> <STATE> <FILE_TREE>`: runs one of the Update Modules built into this
 * binary, with the v3 protocol's two arguments. The executables in a modules directory
 * (modules/<name>/<name>) are two-line shims that exec this command, so one binary serves
 * a Mender client and ota alike.
 */
import { Command } from "commander";
import { fail, OtaError } from "../errors.ts";
import { run as dfu } from "../../modules/dfu/mod.ts";
import { run as directory } from "../../modules/directory/mod.ts";
import { run as docker } from "../../modules/docker/mod.ts";

/** One module: runs `state` in the file tree and returns its exit code. */
export type ModuleRun = (state: string, tree: string) => Promise<number>;

/** The modules built in, by payload type. Add a module here and nowhere else. */
export const builtinModules: Record<string, ModuleRun> = {
  dfu,
  directory,
  docker,
};

export function moduleCommand(): Command {
  return new Command("module")
    .description(
      "run a built-in Update Module (v3 protocol): " + Object.keys(builtinModules).join(", "),
    )
    .argument("<name>", "module name = payload type, e.g. directory")
    .argument("<state>", "protocol state, e.g. ArtifactInstall or SupportsRollback")
    .argument(
      "<file-tree>",
      "the deployment's file tree (absolute path; also the working directory)",
    )
    .addHelpText(
      "after",
      `
A Mender client (or ota) finds modules as executables named after the payload type in its
modules directory (/usr/share/mender/modules/v3). Install the shim shipped in
modules/<name>/<name>, which runs this command:

  install -m 755 modules/directory/directory /usr/share/mender/modules/v3/directory

Examples:
  ota module directory SupportsRollback /var/lib/mender/modules/v3/payloads/0000/tree
  ota module directory ArtifactInstall  /var/lib/mender/modules/v3/payloads/0000/tree
  OTA_CONTAINER_ENGINE=podman ota module docker ArtifactRollback "$PWD"

Query states answer on stdout; unknown states print nothing and exit 0.`,
    )
    .action(async (name: string, state: string, tree: string) => {
      const module = builtinModules[name];
      if (!module) {
        fail(
          "MODULE_UNKNOWN",
          `no built-in module "${name}"; built in: ${Object.keys(builtinModules).join(", ")}`,
        );
      }
      const code = await module(state, tree);
      if (code !== 0) throw new OtaError("MODULE_STATE_FAILED", `${name} ${state} failed`);
    });
}
