/**
 * The provides and clears_artifact_provides that `artifact write` makes by default are
 * mender-artifact 3.9's, for every combination of --software-name, --software-filesystem,
 * --no-default-software-version and --clears-provides (order included), and rows with
 * --software-version, --no-default-clears-provides and -p of the version provide, for
 * rootfs-image and module-image:
 * both tools write each combination and the type-info JSON in their headers must be the
 * same bytes. A difference would make a device's provides drift after an install.
 */
import { assertEquals } from "../helpers/assert.ts";
import { ota, run, sh } from "../helpers/mod.ts";

const work = await Deno.makeTempDir({ prefix: "ota-defaults-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
await Deno.writeTextFile(`${work}/rootfs.img`, "a root filesystem\n");
await Deno.writeTextFile(`${work}/app.txt`, "an application\n");

const kinds = {
  "rootfs-image": ["rootfs-image", "-f", `${work}/rootfs.img`],
  "module-image": ["module-image", "-T", "app", "-f", `${work}/app.txt`],
};
const names = [[], ["--software-name", "foo"], ["--software-name", ""]];
const filesystems = [[], ["--software-filesystem", "fs"], ["--software-filesystem", ""]];
const versions = [[], ["--no-default-software-version"]];
const clears = [
  [],
  ["x.*", "a.b"],
  ["a.b", "x.*"],
  ["rootfs-image.*", "artifact_group"],
  ["rootfs-image.app.*"],
  ["fs.foo.*"],
].map((patterns) => patterns.flatMap((p) => ["--clears-provides", p]));
const extras = [
  ["--software-version", "7"],
  ["--no-default-software-version", "--software-version", "7"],
  ["--no-default-software-version", "--software-name", "foo", "--software-version", "7"],
  ["--no-default-clears-provides"],
  ["--no-default-clears-provides", "--clears-provides", "a.*", "--software-name", "foo"],
  ["--software-filesystem", "rootfs-image", "--software-name", "foo"],
  // Both -p and a --software-* flag set the version provide: the later one wins.
  ["-p", "rootfs-image.version:given", "--clears-provides", "artifact_group"],
  ["-p", "rootfs-image.version:given", "--software-version", "7"],
  ["--software-version", "7", "-p", "rootfs-image.version:given"],
  ["-p", "rootfs-image.app.version:given"],
  ["--software-name", "foo", "-p", "rootfs-image.foo.version:given"],
  ["-p", "rootfs-image.foo.version:given", "--software-name", "foo"],
];

function combinations(): string[][] {
  const rows: string[][] = [];
  for (const name of names) {
    for (const filesystem of filesystems) {
      for (const version of versions) {
        for (const clear of clears) rows.push([...name, ...filesystem, ...version, ...clear]);
      }
    }
  }
  return [...rows, ...extras];
}

/** header-info and type-info as the artifact holds them, taken out with GNU tar. */
async function headerJson(artifact: string): Promise<string> {
  const script = `tar -xOf "$1" header.tar.gz | tar -xzO header-info headers/0000/type-info`;
  return await sh(["sh", "-c", script, "sh", artifact]);
}

let counter = 0;

for (const [kind, base] of Object.entries(kinds)) {
  Deno.test(`${kind}: default provides and clears equal mender-artifact 3.9's`, async () => {
    const differences: string[] = [];
    const rows = combinations();
    for (const flags of rows) {
      const args = ["write", ...base, "-n", "rel-1", "-t", "dev-a", ...flags];
      const theirs = `${work}/ma-${++counter}.mender`;
      const mine = `${work}/ota-${counter}.mender`;
      const made = await run(["mender-artifact", ...args, "-o", theirs]);
      assertEquals(made.code, 0, `mender-artifact ${flags.join(" ")}: ${made.stderr}`);
      const written = await ota(["artifact", ...args, "-o", mine, "--no-progress"]);
      assertEquals(written.code, 0, `ota ${flags.join(" ")}: ${written.stderr}`);
      const [a, b] = [await headerJson(theirs), await headerJson(mine)];
      if (a !== b) {
        differences.push(
          `${JSON.stringify(flags)}\n  mender-artifact: ${a}\n  ota:             ${b}`,
        );
      }
      await Deno.remove(theirs);
      await Deno.remove(mine);
    }
    assertEquals(differences, [], `${differences.length} of ${rows.length} differ`);
  });
}
