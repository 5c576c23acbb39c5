/**
 * `ota artifact modify | cp | cat | install | rm` against the real mender-artifact 3.9: the
 * same command lines run on two copies of an artifact mender-artifact wrote, one edited by
 * each tool. Both must exit alike and print alike; the two results must pass the real
 * `validate` (with the key when signed) and read the same under the real `read` (the
 * rootfs checksum and payload times aside: debugfs stamps the time it writes); the ext4 trees
 * inside (paths, modes, contents) must be equal; ota must read the real tool's result
 * exactly as the real tool does.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { ext4Tree, makeExt4 } from "../helpers/ext4.ts";
import { rsaKey } from "../helpers/keys.ts";
import { BINARY, pseudoRandomBytes, run, type RunResult, sh } from "../helpers/mod.ts";

const work = await Deno.makeTempDir({ prefix: "ota-modify-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
const key = await rsaKey(work, 2048);
const big = pseudoRandomBytes(100_000, 5);
const rootfs = `${work}/rootfs.ext4`;
await makeExt4(rootfs, {
  "/etc/mender/mender.conf": '{"ServerURL":"https://old.example.com","RootfsPartA":"/dev/sda2"}',
  "/etc/mender/artifact_info": "artifact_name=rel-1",
  "/etc/hostname": "board\n",
  "/usr/bin/big": big,
  "/opt/dd/file1": "one\n",
  "/opt/dd/file22": "two\n",
});
const host = {
  text: `${work}/new.txt`,
  cert: `${work}/server.crt`,
  meta: `${work}/meta.json`,
  script: `${work}/ArtifactInstall_Enter_00_check`,
  script2: `${work}/ArtifactCommit_Leave_10_note`,
};
await Deno.writeTextFile(host.text, "new content\n");
await Deno.chmod(host.text, 0o640);
await Deno.writeTextFile(
  host.cert,
  "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
);
await Deno.writeTextFile(host.meta, '{"z":1,"a":{"y":[1,"<&>"],"b":{}}}');
await Deno.writeTextFile(host.script, "#!/bin/sh\necho check\n");
await Deno.writeTextFile(host.script2, "#!/bin/sh\necho note\n");

const real = (args: string[], stdin?: string) => run(["mender-artifact", ...args], { stdin });
// ota's own TMPDIR, to check that every run removed what it unpacked
const otaTmp = `${work}/tmp`;
await Deno.mkdir(otaTmp);
const ota = (args: string[], stdin?: string) =>
  run([BINARY, "artifact", ...args], { stdin, env: { TMPDIR: otaTmp } });
const menderArtifact = `${work}/bin/mender-artifact`;
await Deno.mkdir(`${work}/bin`);
await Deno.symlink(BINARY, menderArtifact);

/** Base artifacts, written by the real tool. */
async function base(name: string, extra: string[], kind = "rootfs-image"): Promise<string> {
  const out = `${work}/${name}.mender`;
  const payload = kind === "rootfs-image"
    ? ["rootfs-image", "-f", rootfs]
    : ["module-image", "-T", "app", "-f", host.text, "-f", host.meta, "-m", host.meta];
  await sh([
    "mender-artifact",
    "write",
    ...payload,
    "-n",
    "rel-1",
    "-t",
    "board",
    "-s",
    host.script,
    "-s",
    host.script2,
    "-o",
    out,
    ...extra,
  ]);
  return out;
}
const bases = {
  signed: await base("signed", ["-k", key.private]),
  lzma: await base("lzma", ["--compression", "lzma"]),
  none: await base("none", ["--compression", "none", "-g", "grp", "-N", "rel-0"]),
  module: await base("module", [], "module-image"),
};

/** mender-artifact's read of `artifact`, with what legitimately differs blanked out. */
async function normalizedRead(artifact: string, rootfsChecksums: boolean): Promise<string> {
  const read = await real(["read", "--no-progress", "-k", key.public, artifact]);
  assertEquals(read.code, 0, read.stderr);
  const lines = read.stdout.split("\n").filter((l) => !l.startsWith("      modified: "));
  const out = rootfsChecksums ? lines.map((l) => l.replace(/[0-9a-f]{64}/, "<sha256>")) : lines;
  // mender-artifact repacks scripts in Go map order, which is random
  const at = out.indexOf("  State scripts:");
  const end = out.indexOf("", at);
  return [...out.slice(0, at + 1), ...out.slice(at + 1, end).sort(), ...out.slice(end)].join("\n");
}

async function members(artifact: string): Promise<string[]> {
  return (await sh(["tar", "tf", artifact])).trim().split("\n");
}

async function rootfsTree(artifact: string): Promise<unknown> {
  const dir = `${artifact}.files`;
  await sh(["mender-artifact", "dump", "--files", dir, artifact]);
  const names = [...Deno.readDirSync(dir)].map((e) => e.name);
  return names.includes("rootfs.ext4") ? await ext4Tree(`${dir}/rootfs.ext4`) : names;
}

interface Step {
  args: string[];
  stdin?: string;
}

/** Runs the steps with both tools on copies of `from`; returns the two results. */
async function both(name: string, from: string, steps: Step[], ext = "mender") {
  const paths = { real: `${work}/${name}-real.${ext}`, ota: `${work}/${name}-ota.${ext}` };
  const results: { real: RunResult[]; ota: RunResult[] } = { real: [], ota: [] };
  for (const tool of ["real", "ota"] as const) {
    await Deno.copyFile(from, paths[tool]);
    for (const step of steps) {
      const args = step.args.map((a) =>
        a.replace("ART", paths[tool]).replace("OUT", `${paths[tool]}.out`)
      );
      results[tool].push(await (tool === "real" ? real : ota)(args, step.stdin));
    }
  }
  steps.forEach((step, i) => {
    const [r, o] = [results.real[i]!, results.ota[i]!];
    const what = step.args.join(" ");
    assertEquals(o.code, r.code, `${what}: ota ${o.stderr} / real ${r.stdout}${r.stderr}`);
    if (r.code === 0) assertEquals(o.stdout, r.stdout, `${what} printed differently`);
    else {
      // mender-artifact prints some errors (rm's) on stdout; ota prints each on stderr
      assertEquals(o.stdout, "", what);
      assertEquals(o.stderr.trim().split("\n").length, 1, `${what}: ${o.stderr}`);
    }
  });
  return { paths, results };
}

/** Both results are valid artifacts that read the same and hold the same files. */
async function sameArtifacts(paths: { real: string; ota: string }, signed: boolean, ext4 = true) {
  for (const path of [paths.real, paths.ota]) {
    const validate = await real(["validate", ...(signed ? ["-k", key.public] : []), path]);
    assertEquals(validate.code, 0, `${path}: ${validate.stderr}`);
  }
  assertEquals(await normalizedRead(paths.ota, ext4), await normalizedRead(paths.real, ext4));
  assertEquals(await members(paths.ota), await members(paths.real));
  assertEquals(await rootfsTree(paths.ota), await rootfsTree(paths.real));
  // ota reads the real tool's result as the real tool does
  const theirs = await real(["read", "--no-progress", paths.real]);
  const ours = await run([menderArtifact, "read", paths.real]);
  assertEquals(ours.code, 0, ours.stderr);
  assertEquals(ours.stdout, theirs.stdout);
}

/** A step from a command line split on spaces; KEY, PUB, TEXT, CERT and META name inputs. */
function step(line: string, stdin?: string): Step {
  const inputs: Record<string, string> = {
    KEY: key.private,
    PUB: key.public,
    TEXT: host.text,
    CERT: host.cert,
    META: host.meta,
  };
  return { args: line.split(" ").map((w) => inputs[w] ?? w), stdin };
}

const cases: { name: string; from: string; steps: Step[]; signed?: boolean }[] = [
  { name: "rename-drops-signature", from: bases.signed, steps: [step("modify -n rel-9 ART")] },
  {
    name: "rename-resign",
    from: bases.signed,
    steps: [step("modify --artifact-name rel-9 -k KEY ART")],
    signed: true,
  },
  {
    name: "server-files",
    from: bases.signed,
    steps: [step("modify -u https://new.example.com/?a=1&b=<2> -t token-1 -c CERT -v PUB ART")],
  },
  {
    name: "header-fields",
    from: bases.none,
    steps: [
      step(
        "modify -N rel-5 -N rel-6 -G g1 -g grp2 -p foo:bar -p rootfs-image.checksum:x " +
          "-d dep.k:v --clears-provides foo.* --delete-clears-provides artifact_group -m META ART",
      ),
    ],
  },
  { name: "normalize-lzma", from: bases.lzma, steps: [step("modify ART")] },
  { name: "recompress", from: bases.lzma, steps: [step("modify --compression none ART")] },
  {
    name: "copy-in-out",
    from: bases.signed,
    steps: [
      step("cp TEXT ART:/etc/new.txt"),
      step("cp - ART:/etc/stdin.txt", "from stdin\n"),
      step("cp ART:/etc/hostname OUT"),
      step("cat ART:/etc/new.txt"),
      step("cat ART:/etc/mender/mender.conf"),
    ],
  },
  {
    name: "install",
    from: bases.lzma,
    steps: [
      step("install -m 0755 TEXT ART:/usr/bin/tool"),
      step("install -m 755 TEXT ART:/usr/bin/decimal"),
      step("install -d ART:/opt/a/b"),
    ],
  },
  {
    name: "remove",
    from: bases.none,
    steps: [step("rm ART:/etc/hostname"), step("rm -r ART:/opt/dd/")],
  },
  {
    name: "refusals",
    from: bases.none,
    steps: [
      "cat ART:/etc/none",
      "cat ART:/nodir/none",
      "rm ART:/etc/none",
      "rm ART:/opt/dd",
      "rm ART:/opt/dd/",
      "cp TEXT ART:/nodir/x",
      "install TEXT ART:/usr/bin/x",
      "cat ART:/boot/efi/x",
      "cat ART",
      "cp TEXT OUT",
    ].map((line) => step(line)),
  },
  { name: "module-rename", from: bases.module, steps: [step("modify -n app-2 ART")] },
];

for (const c of cases) {
  Deno.test(`modify/cp/cat/install/rm like mender-artifact: ${c.name}`, async () => {
    const { paths } = await both(c.name, c.from, c.steps);
    await sameArtifacts(paths, c.signed ?? false, c.from !== bases.module);
    const out = { real: `${paths.real}.out`, ota: `${paths.ota}.out` };
    const exists = async (p: string) => await Deno.stat(p).then(() => true, () => false);
    if (await exists(out.real)) {
      assertEquals(await Deno.readTextFile(out.ota), await Deno.readTextFile(out.real));
      assertEquals((await Deno.stat(out.ota)).mode, (await Deno.stat(out.real)).mode);
    }
  });
}

Deno.test("a bare ext4 image (.img) is edited in place, as by mender-artifact", async () => {
  const { paths } = await both("raw", rootfs, [
    step("cp TEXT ART:/etc/new.txt"),
    step("modify -n rel-7 -u https://raw.example.com ART"),
    step("install -d ART:/var/lib/app"),
    step("rm ART:/etc/hostname"),
    step("modify -g grp ART"),
    step("cat ART:/etc/mender/artifact_info"),
  ], "img");
  assertEquals(await ext4Tree(paths.ota), await ext4Tree(paths.real));
});

Deno.test("cat prints the whole file (mender-artifact 3.9 stops after 32 KiB)", async () => {
  const theirs = await run(["sh", "-c", `mender-artifact cat ${bases.none}:/usr/bin/big | wc -c`]);
  assertEquals(theirs.stdout.trim(), "32768");
  const child = new Deno.Command(BINARY, {
    args: ["artifact", "cat", `${bases.none}:/usr/bin/big`],
    stdout: "piped",
  });
  const out = await child.output();
  assertEquals(out.code, 0);
  assertEquals(out.stdout, big);
});

Deno.test("a corrupt artifact is refused by both and left as it was", async () => {
  const corrupt = `${work}/corrupt.mender`;
  // flip one byte of the compressed payload with python's tarfile, independent of ota
  await sh([
    "python3",
    "-c",
    `
import tarfile, io, sys
src = tarfile.open(sys.argv[1]); dst = tarfile.open(sys.argv[2], "w", format=tarfile.USTAR_FORMAT)
for m in src.getmembers():
    data = bytearray(src.extractfile(m).read())
    if m.name.startswith("data/"): data[len(data) // 2] ^= 0xff
    dst.addfile(m, io.BytesIO(bytes(data)))
dst.close()`,
    bases.none,
    corrupt,
  ]);
  const before = await Deno.readFile(corrupt);
  const { results } = await both("corrupt", corrupt, [{ args: ["modify", "-n", "x", "ART"] }]);
  assertEquals(results.ota[0]!.code, 1);
  assert(!/\n\s+at /.test(results.ota[0]!.stderr), results.ota[0]!.stderr);
  assertEquals(await Deno.readFile(`${work}/corrupt-ota.mender`), before);
});

Deno.test("a module image's payload files: cp, cat, rm by name; the real tool reads the result", async () => {
  const artifact = `${work}/payload-ota.mender`;
  await Deno.copyFile(bases.module, artifact);
  const steps = [
    ["cp", host.cert, `${artifact}:/server.crt`],
    ["cp", host.cert, `${artifact}:new.txt`],
    ["rm", "-k", key.private, `${artifact}:meta.json`],
  ];
  for (const step of steps) {
    const result = await ota(step);
    assertEquals(result.code, 0, `${step.join(" ")}: ${result.stderr}`);
  }
  await sh(["mender-artifact", "validate", "-k", key.public, artifact]);
  const dir = `${artifact}.files`;
  await sh(["mender-artifact", "dump", "--files", dir, artifact]);
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["new.txt", "server.crt"]);
  const cert = await Deno.readTextFile(host.cert);
  assertEquals(await Deno.readTextFile(`${dir}/new.txt`), cert);
  const cat = await ota(["cat", `${artifact}:server.crt`]);
  assertEquals(cat.stdout, cert);
  const missing = await ota(["cat", `${artifact}:meta.json`]);
  assertEquals(missing.code, 1);
  assert(missing.stderr.includes("[IMAGE_NOT_FOUND]"), missing.stderr);
  // the real tool only edits ext4 payloads
  assertEquals((await real(["cat", `${artifact}:server.crt`])).code, 1);
});

Deno.test("a path cannot smuggle debugfs commands, and a directory is no file to copy", async () => {
  const artifact = `${work}/inject-ota.mender`;
  await Deno.copyFile(bases.none, artifact);
  for (const path of ['/etc/x"\nrm "/etc/hostname', "/etc/x\nrm /etc/hostname", "/etc/a\\b"]) {
    const result = await ota(["cp", host.text, `${artifact}:${path}`]);
    assertEquals(result.code, 1, path);
    assert(result.stderr.includes("[IMAGE_PATH]"), result.stderr);
  }
  const dir = await ota(["cp", work, `${artifact}:/etc/x`]);
  assert(dir.stderr.includes("[FILE_READ]"), dir.stderr);
  assertEquals(await Deno.readFile(artifact), await Deno.readFile(bases.none));
  assertEquals((await ota(["cat", `${artifact}:/etc/hostname`])).stdout, "board\n");
});

Deno.test("every run above removed its temporary files", () => {
  assertEquals([...Deno.readDirSync(otaTmp)].map((e) => e.name), []);
});
