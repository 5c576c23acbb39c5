/** Reading the Update Module file tree (protocol v3): header files and payload files. */
import { promises as fs } from "node:fs";
import { fail } from "../../src/errors.ts";
import { readTextIfExists } from "../../src/files.ts";

/** The header's meta-data as an object ({} when the artifact carries none). */
export async function readMetaData(tree: string): Promise<Record<string, unknown>> {
  const text = await readTextIfExists(`${tree}/header/meta-data`);
  if (text === undefined || text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    fail("MODULE_META_DATA", `header/meta-data is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail("MODULE_META_DATA", "header/meta-data must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/** Names of the payload files the client wrote to files/ (files mode), sorted. */
export async function payloadFiles(tree: string): Promise<string[]> {
  try {
    return (await fs.readdir(`${tree}/files`)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

/** The artifact's name as the client wrote it (no trailing newline). */
export async function artifactName(tree: string): Promise<string> {
  return ((await readTextIfExists(`${tree}/header/artifact_name`)) ?? "").trim();
}
