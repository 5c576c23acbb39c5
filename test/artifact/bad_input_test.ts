/**
 * The reader against broken artifacts, built from good ones written by the real
 * mender-artifact 3.9 and by ota: each case must end in exactly one error line with its
 * stable code and exit code 1 from the compiled binary (`validate` and `read`), never a stack
 * trace; through the library, the same code as an OtaError, and openArtifact must reject
 * every case whose header is not sound, so no payload byte is handed out before the header
 * verified. Unusual but harmless artifacts must be accepted with the right payload bytes.
 */
import { type Artifact, openArtifact, type ReadOptions } from "../../src/artifact/reader.ts";
import { OtaError } from "../../src/errors.ts";
import { drain, readAll, streamOf } from "../../src/streams.ts";
import { assert, assertEquals, assertMatch, assertRejects, at } from "../helpers/assert.ts";
import { menderValidate } from "../helpers/artifact_edit.ts";
import { ota } from "../helpers/mod.ts";
import type { BadCase, GoodCase } from "./case.ts";
import { augmentCases } from "./cases_augment.ts";
import { contentCases } from "./cases_content.ts";
import { editedCases } from "./cases_edited.ts";
import { goodCases } from "./cases_good.ts";
import { streamCases } from "./cases_stream.ts";
import { bytes, craft } from "./craft.ts";
import { type Keys, makeSeeds } from "./seeds.ts";

const seeds = await makeSeeds();
const dir = seeds.dir;
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const bad = [
  ...await streamCases(seeds),
  ...await contentCases(seeds),
  ...await editedCases(seeds),
  ...await augmentCases(seeds),
];
const good = await goodCases(seeds);

function keyArgs(keys: Keys[] = []): string[] {
  return keys.flatMap((k) => ["-k", k.pair.public]);
}

function libraryOptions(c: { verify?: Keys[]; maxPayload?: number }): ReadOptions {
  return {
    verifyKeys: c.verify?.map((k) => k.verify),
    limits: c.maxPayload ? { payloadBytes: c.maxPayload } : undefined,
  };
}

/** One line, `ota: <message> [CODE]`, and no stack trace. */
function assertOneError(stderr: string, code: string): void {
  assert(!/^\s+at /m.test(stderr), `a stack trace:\n${stderr}`);
  const lines = stderr.split("\n").filter((line) => line !== "");
  assertEquals(lines.length, 1, `expected one line on stderr:\n${stderr}`);
  assertMatch(at(lines, 0), new RegExp(`^ota: \\S.* \\[${code}\\]$`));
}

async function throughBinary(c: BadCase, path: string): Promise<void> {
  const args = [
    ...keyArgs(c.verify),
    ...(c.maxPayload ? ["--max-payload-size", String(c.maxPayload)] : []),
    path,
  ];
  for (const command of ["validate", "read"]) {
    const result = await ota(["artifact", command, ...args]);
    assertEquals(result.code, 1, `${command}: exit ${result.code}\n${result.stderr}`);
    assertEquals(result.stdout, "", `${command} printed on stdout`);
    assertOneError(result.stderr, c.code);
  }
}

/** The bytes as a file or a socket gives them: in chunks, each only when asked for. */
function chunked(data: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= data.byteLength) return controller.close();
      controller.enqueue(data.slice(at, at += size));
    },
  }, { highWaterMark: 0 });
}

async function throughLibrary(c: BadCase): Promise<void> {
  let opened: Artifact | undefined;
  let sizeSeen = false;
  const input = chunked(c.bytes, 64 * 1024);
  const error = await assertRejects(async () => {
    const artifact = opened = await openArtifact(input, libraryOptions(c));
    try {
      for await (const payload of artifact.payloads()) {
        for await (const file of payload.files()) {
          if (c.declaredSize !== undefined) {
            assertEquals(file.size, c.declaredSize);
            sizeSeen = true;
          }
          await drain(file.stream);
        }
      }
      await artifact.finish();
    } catch (error) {
      await artifact.cancel(error);
      throw error;
    }
  }, "the broken artifact was accepted");
  assert(error instanceof OtaError, `not an OtaError: ${error?.stack ?? error}`);
  assertEquals(error.code, c.code, error.message);
  if (c.phase === "open") {
    assertEquals(opened, undefined, "openArtifact resolved (payloads available) for a bad header");
  } else if (c.phase === "payload") {
    assert(opened, `openArtifact rejected a sound header: ${error.message}`);
  }
  if (c.declaredSize !== undefined) assert(sizeSeen, "the declared size was not reported");
}

Deno.test("the bad-input table has at least 40 cases, each with its own name", () => {
  assert(bad.length >= 40, `only ${bad.length} cases`);
  assertEquals(new Set(bad.map((c) => c.name)).size, bad.length);
});

for (const [index, c] of bad.entries()) {
  Deno.test(`bad input: ${c.name} -> ${c.code}`, async () => {
    const path = `${dir}/bad-${index}.mender`;
    await Deno.writeFile(path, c.bytes);
    try {
      await throughBinary(c, path);
      if (!c.binaryOnly) await throughLibrary(c);
      if (c.mender) {
        const mender = await menderValidate(dir, c.bytes, c.verify?.map((k) => k.pair.public));
        assertEquals(mender.ok ? "accepts" : "refuses", c.mender, mender.message);
      }
    } finally {
      await Deno.remove(path);
    }
  });
}

async function readFiles(c: GoodCase) {
  const artifact = await openArtifact(streamOf(c.bytes), libraryOptions(c));
  const files: { name: string; body: Uint8Array }[] = [];
  for await (const payload of artifact.payloads()) {
    for await (const file of payload.files()) {
      files.push({ name: file.name, body: await readAll(file.stream, 1 << 24, file.name) });
    }
  }
  await artifact.finish();
  return files;
}

for (const [index, c] of good.entries()) {
  Deno.test(`accepted: ${c.name}`, async () => {
    const path = `${dir}/good-${index}.mender`;
    await Deno.writeFile(path, c.bytes);
    try {
      const result = await ota(["artifact", "validate", ...keyArgs(c.verify), path]);
      assertEquals(result.code, 0, result.stderr);
      assertEquals(await readFiles(c), c.files);
    } finally {
      await Deno.remove(path);
    }
  });
}

Deno.test("a path that does not exist: one FILE_READ line, exit 1", async () => {
  for (const command of ["validate", "read", "dump"]) {
    const args = command === "dump" ? ["--files", `${dir}/none`] : [];
    const result = await ota(["artifact", command, ...args, `${dir}/missing.mender`]);
    assertEquals(result.code, 1, `${command}: ${result.stderr}`);
    assertOneError(result.stderr, "FILE_READ");
  }
});

/**
 * Meta-data is handed to Update Modules verbatim, so numbers JavaScript cannot hold exactly
 * (beyond 2^53, or with more digits than a double keeps) are accepted and their bytes kept;
 * only the parsed view (`metaData`, `read --json`) rounds them.
 */
Deno.test("meta-data with numbers beyond 2^53 is accepted and kept byte for byte", async () => {
  const meta = bytes(
    `{"big":123456789012345678901234567890,"odd":9007199254740993,"neg":-9007199254740995,` +
      `"fine":1.00000000000000000001,"list":[18446744073709551615]}`,
  );
  const artifact = await craft({
    headerInfo: {
      payloads: [{ type: "app" }],
      artifact_provides: { artifact_name: "meta-1" },
      artifact_depends: { device_type: ["dev-a"] },
    },
    typeInfo: { type: "app" },
    metaData: meta,
  });
  const opened = await openArtifact(streamOf(artifact));
  const payload = at(opened.header.payloads, 0);
  assertEquals(payload.metaDataBytes, meta);
  assertEquals(payload.metaData?.odd, 9007199254740992);
  await opened.finish();

  const path = `${dir}/meta.mender`;
  await Deno.writeFile(path, artifact);
  assertEquals((await ota(["artifact", "validate", path])).code, 0);
  const dump = await ota(["artifact", "dump", "--meta-data", `${dir}/meta`, path]);
  assertEquals(dump.code, 0, dump.stderr);
  assertEquals(await Deno.readFile(`${dir}/meta/meta-data.json`), meta);
});
