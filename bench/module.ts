/**
 * An Update Module in streams mode: a 1 GiB single-file payload streamed through the module
 * protocol's named pipes into a file, by ota (dist/ota) and by the real Mender client 3.4,
 * on the same simulated device with the same module and artifact.
 *
 *   deno task bench module [--sizes 1024] [--compressions none,gzip]
 *
 * The module (a POSIX sh script) reads `stream-next` and copies each stream to a file in
 * its data directory; it answers No to reboot and rollback, so both clients commit at once.
 */
import { rmSync } from "node:fs";
import {
  createMenderDevice,
  menderCommand,
  type MenderDevice,
} from "../test/helpers/mender_client.ts";
import {
  type Bench,
  type BenchOptions,
  compare,
  flag,
  otaArtifact,
  otaInstall,
  patternFile,
  type Row,
} from "./lib.ts";

const MODULE = `#!/bin/sh
set -e
case "$1" in
  Download)
    out="$(dirname "$2")/received"
    mkdir -p "$out"
    while true; do
      name=$(cat "$2/stream-next")
      [ -z "$name" ] && break
      cat "$2/$name" > "$out/$(basename "$name")"
    done;;
  NeedsArtifactReboot) echo No;;
  SupportsRollback) echo No;;
esac
`;

function reset(device: MenderDevice): void {
  for (const path of ["data/mender-store", "data/mender-store-lock", "data/modules", "ota-data"]) {
    rmSync(`${device.dir}/${path}`, { recursive: true, force: true });
  }
}

async function run({ runs, cold, work, args }: BenchOptions): Promise<Row[]> {
  const sizes = flag(args, "sizes", "1024").split(",").map(Number);
  const compressions = flag(args, "compressions", "none,gzip").split(",");
  const moduleFile = `${work}/stream-copy`;
  await Deno.writeTextFile(moduleFile, MODULE, { mode: 0o755 });
  rmSync(`${work}/device`, { recursive: true, force: true });
  const device = await createMenderDevice(`${work}/device`, {
    deviceType: "bench-board",
    modules: { "stream-copy": moduleFile },
  });
  const rows: Row[] = [];
  for (const mib of sizes) {
    const file = patternFile(`${work}/payload-${mib}.bin`, mib);
    for (const compression of compressions) {
      const artifact = `${work}/module-${mib}-${compression}.mender`;
      otaArtifact(artifact, { name: `m-${mib}`, file, compression, moduleType: "stream-copy" });
      const ota = otaInstall(device.dir, artifact);
      const mender = menderCommand(device, ["install", artifact], { logLevel: "error" });
      rows.push(
        await compare(`${mib} MiB ${compression}, streams mode`, ota, mender.cmd, {
          runs,
          cold,
          before: () => reset(device),
          env: mender.env,
        }),
      );
    }
  }
  return rows;
}

export const bench: Bench = {
  name: "module",
  description:
    "a 1 GiB payload through an Update Module in streams mode, ota vs the real Mender client 3.4",
  run,
};
