/**
 * Edits artifacts with Python's tarfile (test/helpers/artifact_edit.py), a tar library
 * independent of ota's reader and writer, and runs the real `mender-artifact validate` on
 * the result: bad-input cases start from what the real tool wrote, and say what it does.
 */
import { fileURLToPath } from "node:url";
import { run } from "./mod.ts";

const SCRIPT = fileURLToPath(new URL("./artifact_edit.py", import.meta.url));

type Where = "outer" | "header" | "data";

/** The header tar json and raw edit: the header (default) or the header-augment. */
type HeaderTar = "header" | "header-augment";

export type EditOp =
  | {
    op: "json";
    member: string;
    path: string[];
    value?: unknown;
    delete?: boolean;
    tar?: HeaderTar;
  }
  | { op: "raw"; member: string; text: string; tar?: HeaderTar; create?: boolean }
  /** Leaves manifest-augment's checksum of the header-augment as it was. */
  | { op: "stale"; member: "header-augment" }
  /** Replaces a payload file's bytes; its manifest line stays. */
  | { op: "data-raw"; name: string; text: string }
  | { op: "typeflag"; where: Where; member: string; typeflag: string }
  | {
    op: "sparse";
    where: Where;
    member: string;
    format: "gnu" | "pax-0.0" | "pax-0.1" | "pax-1.0";
    /** For a payload file: the manifest keeps the content's checksum, or gets the stored bytes'. */
    checksum?: "expanded" | "stored";
  }
  | { op: "manifest"; member?: string; add?: [string, string][]; drop?: string[] }
  | { op: "data-add"; name: string; text: string; listed?: boolean }
  | { op: "outer-add"; name: string; text: string }
  /** Signs the edited manifest again with this RSA private key (PEM), last. */
  | { op: "sign"; key: string };

export interface Edited {
  bytes: Uint8Array;
  /** For each entry stored sparse: sha256 of its stored bytes and of its content. */
  sparse: Record<string, { stored: string; expanded: string }>;
}

let counter = 0;

/** Applies `ops` to a copy of `artifact` (its bytes); `dir` holds the scratch files. */
export async function editArtifact(
  dir: string,
  artifact: Uint8Array,
  ops: EditOp[],
): Promise<Edited> {
  const input = `${dir}/edit-${++counter}-in.mender`;
  const output = `${dir}/edit-${counter}-out.mender`;
  await Deno.writeFile(input, artifact);
  const request = {
    input,
    output,
    ops: ops.map((op) => op.op === "manifest" ? { member: "manifest", ...op } : op),
  };
  const result = await run(["python3", SCRIPT], { stdin: JSON.stringify(request) });
  if (result.code !== 0) throw new Error(`artifact_edit.py failed: ${result.stderr}`);
  const bytes = await Deno.readFile(output);
  await Deno.remove(input);
  await Deno.remove(output);
  return { bytes, sparse: JSON.parse(result.stdout) };
}

/** What `mender-artifact validate` (3.9) says about these bytes: exit code and last line. */
export async function menderValidate(
  dir: string,
  artifact: Uint8Array,
  keys: string[] = [],
): Promise<{ ok: boolean; message: string }> {
  const path = `${dir}/validate-${++counter}.mender`;
  await Deno.writeFile(path, artifact);
  try {
    const k = keys.flatMap((key) => ["-k", key]);
    const result = await run(["mender-artifact", "validate", ...k, path]);
    const lines = `${result.stdout}\n${result.stderr}`.split("\n").filter((l) => l.trim());
    return { ok: result.code === 0, message: lines.at(-1) ?? "" };
  } finally {
    await Deno.remove(path);
  }
}
