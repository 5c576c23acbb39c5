/**
 * `/etc/mender/artifact_info`, the name of the artifact a device was built with, which
 * Mender uses until its store names one. Read by the rules of 3.4's GetManifestData: lines
 * trimmed, `#` lines skipped, every other line `key=value` (an empty line too is broken), the
 * key once at most.
 */
import { readTextIfExists } from "../files.ts";

export interface ArtifactInfo {
  /** The name; undefined when the file is missing, broken or names none (or an empty one). */
  name?: string;
  /** What Mender 3.4's `show-artifact` says then. */
  problem?: string;
}

export function parseArtifactInfo(text: string, path: string): ArtifactInfo {
  let name: string | undefined;
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop(); // the newline that ends the last line
  for (const raw of lines) {
    const line = raw.trim();
    if (line.startsWith("#")) continue;
    const at = line.indexOf("=");
    if (at < 0) return { problem: `Broken device manifest file: ([${line}])` };
    if (line.slice(0, at) !== "artifact_name") continue;
    if (name !== undefined) {
      return { problem: `More than one instance of artifact_name found in manifest file ${path}.` };
    }
    name = line.slice(at + 1).trim();
  }
  if (!name) {
    return { problem: "The Artifact name is empty. Please set a valid name for the Artifact!" };
  }
  return { name };
}

export async function readArtifactInfo(path: string): Promise<ArtifactInfo> {
  let text: string | undefined;
  try {
    text = await readTextIfExists(path);
  } catch (error) {
    return { problem: `open ${path}: ${(error as Error).message}` };
  }
  if (text === undefined) return { problem: `open ${path}: no such file or directory` };
  return parseArtifactInfo(text, path);
}
