/** The error code list: well formed, no repeats, and no code that nothing reports. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { ERROR_CODES, isErrorCode, isOtaError, OtaError } from "../src/errors.ts";
import { runProcess, runTool } from "../src/process.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "./helpers/assert.ts";
import { ROOT } from "./helpers/mod.ts";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = `${dir}/${name}`;
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

Deno.test("error codes are upper-case, listed once, and each is reported somewhere", () => {
  assertEquals(new Set(ERROR_CODES).size, ERROR_CODES.length, "a code is listed twice");
  for (const code of ERROR_CODES) assertMatch(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
  const text = [...sources(`${ROOT}/src`), ...sources(`${ROOT}/modules`)]
    .filter((path) => !path.endsWith("/src/errors.ts"))
    .map((path) => readFileSync(path, "utf8"))
    .join("\n");
  const unused = ERROR_CODES.filter((code) => !text.includes(`"${code}"`));
  assertEquals(unused, [], "codes in src/errors.ts that no source reports");
  assert(isErrorCode("CHECKSUM_MISMATCH"));
  assert(!isErrorCode("CHECKSUM_MISMATCHED"));
});

Deno.test("a program that prints more than allowed fails with OUTPUT_LIMIT", async () => {
  const error = await assertRejects(() =>
    runProcess("sh", ["-c", "head -c 5000 /dev/zero"], { maxStdout: 1000 })
  );
  assert(isOtaError(error, "OUTPUT_LIMIT"), String(error));
  assert(error instanceof OtaError);
  const kept = await runProcess("sh", ["-c", "head -c 500 /dev/zero"], { maxStdout: 1000 });
  assertEquals(kept.stdout.length, 500);
});

Deno.test("a program that exits without reading its input fails by its exit code", async () => {
  const input = "x".repeat(4 << 20); // more than a pipe holds: the write meets EPIPE
  const error = await assertRejects(() =>
    runTool("BOOTENV_WRITE", "sh", ["-c", "exit 3"], { stdin: input })
  );
  assert(isOtaError(error, "BOOTENV_WRITE"), String(error));
  assertMatch(error.message, /exit 3/);
});
