/** The artifact verification keys the configuration names (ArtifactVerifyKey or -Keys). */
import { promises as fs } from "node:fs";
import { parseVerifyKey, type VerifyKey } from "../artifact/signature.ts";
import { type Config, verifyKeyPaths } from "../device/config.ts";
import { fail } from "../errors.ts";

/** The keys, or undefined when none is configured (then signatures are not required). */
export async function verifyKeys(config: Config): Promise<VerifyKey[] | undefined> {
  const paths = verifyKeyPaths(config);
  if (!paths.length) return undefined;
  return await Promise.all(paths.map(async (path) => {
    const pem = await fs.readFile(path).catch(() => {
      fail(
        "KEY_INVALID",
        `cannot read the verification key ${path} (ArtifactVerifyKey); fix the path in the configuration`,
      );
    });
    return parseVerifyKey(pem, `the verification key ${path}`);
  }));
}
