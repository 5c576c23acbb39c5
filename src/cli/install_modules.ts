/**
 * `ota install-modules [DIR]`: writes the shims of the built-in Update Modules into a
 * modules directory, so a device that received only the ota binary can run them, under
 * ota or under Mender's own client. Each shim execs this very binary by its full path.
 */
import { promises as fs } from "node:fs";
import { Command } from "commander";
import { fail } from "../errors.ts";
import { ownExecutable } from "../platform.ts";
import { builtinModules } from "./module.ts";

/** The answers that never change, given by the shim itself (see modules/dfu/dfu). */
const shortAnswers: Record<string, string> = {
  dfu: `case "$1" in
NeedsArtifactReboot | SupportsRollback) echo Yes && exit 0 ;;
ArtifactFailure | Cleanup) exit 0 ;;
esac
`,
};

export function shimFor(name: string, binary: string): string {
  return `#!/bin/sh
# Update Module "${name}" (protocol v3), built into ota: ${binary}
${shortAnswers[name] ?? ""}exec "\${OTA_BIN:-${binary}}" module ${name} "$@"
`;
}

/** The binary's own path (from source, the runtime is not ota). */
function ownBinary(): string {
  return ownExecutable() ?? fail(
    "NOT_SUPPORTED",
    "install-modules needs the compiled ota binary or dist/ota.js (run it as ./dist/ota or from its install path)",
  );
}

export function installModulesCommand(): Command {
  return new Command("install-modules")
    .description("write the shims of ota's built-in Update Modules into a modules directory")
    .argument("[dir]", "modules directory", "/usr/share/mender/modules/v3")
    .option("--only <names>", "comma-separated subset, e.g. directory,docker")
    .addHelpText(
      "after",
      `
Examples:
  ota install-modules                          # dfu, directory, docker in /usr/share/mender/modules/v3
  ota install-modules --only directory /data/modules`,
    )
    .action(async (dir: string, o: { only?: string }) => {
      const names = o.only ? o.only.split(",").map((n) => n.trim()) : Object.keys(builtinModules);
      for (const name of names) {
        if (!builtinModules[name]) {
          fail(
            "MODULE_UNKNOWN",
            `no built-in module "${name}"; built in: ${Object.keys(builtinModules).join(", ")}`,
          );
        }
      }
      const binary = ownBinary();
      await fs.mkdir(dir, { recursive: true });
      for (const name of names) {
        const path = `${dir}/${name}`;
        await fs.writeFile(`${path}.tmp`, shimFor(name, binary), { mode: 0o755 });
        await fs.rename(`${path}.tmp`, path);
        console.log(`${path} -> ${binary} module ${name}`);
      }
    });
}
