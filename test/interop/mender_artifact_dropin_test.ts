/**
 * Named as the tool, it is the tool: the same mender-artifact command lines run through the
 * real mender-artifact 3.9 and through ota started as `mender-artifact` (a symlink), each in
 * its own directory holding the same files. Exit codes must be equal and so must stdout,
 * byte for byte; artifacts they write must read the same under the real `read`.
 *
 * The differences allowed, each asserted below as it is, so the list stays true:
 * - stderr: progress bars and the wording of errors differ; help texts differ.
 * - mender-artifact exits 0 for missing arguments and for a key it cannot read
 *   (errArtifactInvalidParameters is 0): `validate -k missing.pub X` "succeeds". ota exits 1.
 * - it exits 0 after refusing an artifact name with whitespace; ota exits 1.
 * - it writes format version 2 (`-v 2`); ota writes version 3 only.
 * - the Debian 3.9 build refuses `--compression zstd`; ota writes it (as mender-artifact 3.10).
 * - its `cat` stops after 32 KiB; ota prints the whole file.
 * - it refuses `cp -k` (its key lookup does not know "cp"); ota signs the result.
 * - after an edit, payload times and the ext4 image's checksum differ (debugfs stamps the
 *   time it writes), and it repacks state scripts in random order; these are blanked out.
 */
import { assertEquals, assertMatch, assertNotEquals } from "../helpers/assert.ts";
import { ecKey, rsaKey } from "../helpers/keys.ts";
import { makeExt4 } from "../helpers/ext4.ts";
import { BINARY, pseudoRandomBytes, run, type RunResult, sh } from "../helpers/mod.ts";

const work = await Deno.makeTempDir({ prefix: "ota-dropin-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
const inputs = `${work}/inputs`;
await Deno.mkdir(inputs);
const rsa = await rsaKey(inputs, 2048);
await ecKey(inputs);
await makeExt4(`${inputs}/rootfs.ext4`, {
  "/etc/mender/mender.conf": '{"ServerURL":"https://old.example.com"}',
  "/etc/hostname": "board\n",
  "/usr/share/big": pseudoRandomBytes(50_000, 3),
});
await Deno.writeTextFile(`${inputs}/f.txt`, "hello\n");
await Deno.writeTextFile(`${inputs}/ArtifactInstall_Enter_00_check`, "#!/bin/sh\n");
const rel = (name: string) => name.slice(inputs.length + 1);
const [rsaPrivate, rsaPublic] = [rel(rsa.private), rel(rsa.public)];
await sh([
  "mender-artifact",
  "write",
  "rootfs-image",
  "-n",
  "rel-1",
  "-t",
  "board",
  "-f",
  `${inputs}/rootfs.ext4`,
  "-k",
  rsa.private,
  "-s",
  `${inputs}/ArtifactInstall_Enter_00_check`,
  "-o",
  `${inputs}/signed.mender`,
]); // deno-fmt-ignore
await sh([
  "mender-artifact", "write", "module-image", "-T", "app", "-n", "app-1", "-t", "board",
  "-f", `${inputs}/f.txt`, "-o", `${inputs}/module.mender`,
]); // deno-fmt-ignore
// a payload byte flipped with python's tarfile, independent of both tools
await sh(["python3", "-c", `
import tarfile, io, sys
src = tarfile.open(sys.argv[1]); dst = tarfile.open(sys.argv[2], "w", format=tarfile.USTAR_FORMAT)
for m in src.getmembers():
    data = bytearray(src.extractfile(m).read())
    if m.name.startswith("data/"): data[-40] ^= 0xff
    dst.addfile(m, io.BytesIO(bytes(data)))
dst.close()`, `${inputs}/module.mender`, `${inputs}/corrupt.mender`]);

const ours = `${work}/bin/mender-artifact`;
await Deno.mkdir(`${work}/bin`);
await Deno.symlink(BINARY, ours);

interface Case {
  args: string[];
  /** An artifact the command writes, compared with the real `read`. */
  writes?: string;
  /** A directory the command fills, compared file by file. */
  fills?: string;
  /** Compare exit codes only (help texts). */
  codeOnly?: boolean;
  /** A listed difference: each tool's exit code, asserted as it is. */
  differs?: { real: number; ota: number };
}

/** A case from a command line; words are split on spaces (`~` stands for a space). */
function c(line: string, extra: Omit<Case, "args"> = {}): Case {
  const args = line.split(" ").filter(Boolean).map((w) =>
    w.replace("~", " ").replace("RSA.KEY", rsaPrivate).replace("RSA.PUB", rsaPublic)
  );
  return { args, ...extra };
}

const W = "-t board -f rootfs.ext4";
const cases: Case[] = [
  // write, with Go's flag spellings and the default output name
  c(`write rootfs-image -n rel-2 ${W}`, { writes: "artifact.mender" }),
  c(`--compression lzma write rootfs-image -n r ${W} -o l.mender`, { writes: "l.mender" }),
  c(
    "write module-image -artifact-name app-2 -device-type board -type app -file f.txt " +
      "-output-path m.mender -compression none",
    { writes: "m.mender" },
  ),
  c("write bootstrap-artifact -n boot-1 -t board -o b.mender -p x.y:z", { writes: "b.mender" }),
  c(`write rootfs-image -n rel-3 ${W} -o k.mender -k RSA.KEY -N rel-2 -g grp -p x.y:z`, {
    writes: "k.mender",
  }),
  // read and validate
  c("read signed.mender"),
  c("read --no-progress -k RSA.PUB signed.mender"),
  c("read -no-progress -k ec.pub.pem signed.mender"),
  c("read module.mender"),
  c("validate module.mender"),
  c("validate -k RSA.PUB signed.mender"),
  c("validate signed.mender"),
  c("validate -k ec.pub.pem signed.mender"),
  c("validate -k RSA.PUB module.mender"),
  c("validate corrupt.mender"),
  c("validate none.mender"),
  c("read none.mender"),
  c("read corrupt.mender"),
  c("read rootfs.ext4"),
  // sign
  c("sign -k RSA.KEY -o s1.mender module.mender", { writes: "s1.mender" }),
  c("sign -k RSA.KEY signed.mender"),
  c("sign -f -k ec.key -o s2.mender signed.mender", { writes: "s2.mender" }),
  c("sign module.mender"),
  // modify, cp, cat, install, rm (on the artifacts the write cases made)
  c("modify -n rel-9 -u https://new.example.com artifact.mender", { writes: "artifact.mender" }),
  c("modify -k RSA.KEY -p a:b -N rel-0 k.mender", { writes: "k.mender" }),
  c("cp f.txt l.mender:/etc/f.txt", { writes: "l.mender" }),
  c("cat l.mender:/etc/f.txt"),
  c("cat l.mender:/etc/mender/mender.conf"),
  c("install -m 0700 f.txt l.mender:/usr/bin/f", { writes: "l.mender" }),
  c("install -d l.mender:/opt/x/y", { writes: "l.mender" }),
  c("rm l.mender:/etc/hostname", { writes: "l.mender" }),
  c("modify -n app-3 m.mender", { writes: "m.mender" }),
  // dump
  c("dump --files df --scripts ds --meta-data dm signed.mender", { fills: "d" }),
  c("dump --meta-data em --files ef m.mender", { fills: "e" }),
  c("dump corrupt.mender"),
  c("dump none.mender"),
  // errors
  c("bogus"),
  c("help bogus"),
  c("write bogus"),
  c("--bogus", { codeOnly: true }),
  c("read --bogus signed.mender", { codeOnly: true }),
  c("write rootfs-image -n x -t board", { codeOnly: true }),
  c(`write rootfs-image -n x ${W} -o no/dir/x.mender`),
  c("write rootfs-image -n x -t b -f none.ext4 -o x.mender"),
  c("cat l.mender:/etc/none"),
  c("cat f.txt:/etc/none"),
  c("rm l.mender:/nodir/none"),
  c("install f.txt l.mender:/etc/x"),
  c("modify none.mender"),
  c("modify -n x corrupt.mender"),
  // help and version
  c("", { codeOnly: true }),
  c("--help", { codeOnly: true }),
  c("help modify", { codeOnly: true }),
  c("write", { codeOnly: true }),
  c("cp --help", { codeOnly: true }),
  // listed differences
  c("read", { differs: { real: 0, ota: 1 } }),
  c("validate -k none.pub signed.mender", { differs: { real: 0, ota: 1 } }),
  c(`write rootfs-image -n a~b ${W} -o ws.mender`, { differs: { real: 0, ota: 1 } }),
  c(`write rootfs-image -n v ${W} -v 2 -o v2.mender`, { differs: { real: 0, ota: 1 } }),
  c(`write rootfs-image -n z ${W} --compression zstd -o z.mender`, {
    differs: { real: 1, ota: 0 },
  }),
  c("cp -k RSA.KEY f.txt l.mender:/etc/g.txt", { differs: { real: 1, ota: 0 } }),
];

async function copyInputs(dir: string): Promise<void> {
  await Deno.mkdir(dir);
  for (const entry of Deno.readDirSync(inputs)) {
    await Deno.copyFile(`${inputs}/${entry.name}`, `${dir}/${entry.name}`);
  }
}
const dirs = { real: `${work}/real`, ota: `${work}/ota` };
await copyInputs(dirs.real);
await copyInputs(dirs.ota);

/** Every file under `dir` whose name starts with `prefix`: relative path, mode and content. */
async function filled(dir: string, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (path: string, rel: string) => {
    for await (const entry of Deno.readDir(path)) {
      const full = `${path}/${entry.name}`;
      if (entry.isDirectory) await walk(full, `${rel}${entry.name}/`);
      else {
        const mode = ((await Deno.stat(full)).mode ?? 0) & 0o777;
        out[`${rel}${entry.name}`] = `${mode.toString(8)} ${await Deno.readTextFile(full)}`;
      }
    }
  };
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory && entry.name.startsWith(prefix)) {
      await walk(`${dir}/${entry.name}`, `${entry.name}/`);
    }
  }
  return out;
}

/** The real `read` of an artifact, with edit times, image checksums and script order blanked. */
async function normalizedRead(path: string): Promise<string> {
  const read = await run(["mender-artifact", "read", "--no-progress", "-k", rsa.public, path]);
  const lines = read.stdout.split("\n")
    .filter((l) => !l.startsWith("      modified: "))
    .map((l) => (/rootfs/.test(read.stdout) ? l.replace(/[0-9a-f]{64}/, "<sha256>") : l));
  const at = lines.indexOf("  State scripts:");
  const end = lines.indexOf("", at);
  const sorted = [
    ...lines.slice(0, at + 1),
    ...lines.slice(at + 1, end).sort(),
    ...lines.slice(end),
  ];
  return `exit ${read.code}\n${sorted.join("\n")}`;
}

Deno.test("ota as mender-artifact: the same command lines, the same exit codes and output", async () => {
  for (const c of cases) {
    const label = `mender-artifact ${c.args.join(" ")}`;
    const result: Record<"real" | "ota", RunResult> = {
      real: await run(["mender-artifact", ...c.args], { cwd: dirs.real }),
      ota: await run([ours, ...c.args], { cwd: dirs.ota }),
    };
    if (c.differs) {
      assertEquals({ real: result.real.code, ota: result.ota.code }, c.differs, label);
      continue;
    }
    assertEquals(result.ota.code, result.real.code, `${label}\nota: ${result.ota.stderr}`);
    if (!c.codeOnly && result.real.code === 0) {
      assertEquals(result.ota.stdout, result.real.stdout, label);
    }
    if (result.real.code !== 0) assertMatch(result.ota.stderr, /\S/, `${label}: silent failure`);
    if (c.fills) {
      const [theirs, mine] = [await filled(dirs.real, c.fills), await filled(dirs.ota, c.fills)];
      assertEquals(mine, theirs, `${label}: the dumps differ`);
      assertNotEquals(Object.keys(theirs).length, 0, label);
    }
    if (c.writes) {
      assertEquals(
        await normalizedRead(`${dirs.ota}/${c.writes}`),
        await normalizedRead(`${dirs.real}/${c.writes}`),
        `${label}: the artifacts differ`,
      );
    }
  }
});

Deno.test("mender-artifact --version names the version it stands in for", async () => {
  const result = await run([ours, "--version"]);
  assertEquals(result.code, 0);
  assertMatch(result.stdout, /^mender-artifact version 3\.9\.0 \(ota .+\)\n$/);
  assertMatch(
    (await run(["mender-artifact", "--version"])).stdout,
    /^mender-artifact version 3\.9/,
  );
});
