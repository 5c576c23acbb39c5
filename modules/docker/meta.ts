/**
 * The docker module's meta-data: which containers to run (name, image, run arguments,
 * command) and which payload files are image archives. Mender's own docker module
 * meta-data (`{"containers": ["image@sha256:..."], "run_args": "-p 80:80"}`) is accepted
 * too: each string becomes a container named after its image.
 */
import { z } from "zod";
import { fail } from "../../src/errors.ts";

const containerName = z.string().regex(
  /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/,
  "must be a container name: letters, digits, _ . - (at most 128)",
);

const containerSchema = z.strictObject({
  name: containerName,
  image: z.string().min(1),
  run_args: z.array(z.string()).default([]),
  command: z.array(z.string()).default([]),
});

const metaSchema = z.object({
  containers: z.array(z.union([containerSchema, z.string().min(1)])).min(1),
  run_args: z.union([z.string(), z.array(z.string())]).optional(),
  images: z.array(z.string().min(1)).optional(),
  stop_timeout: z.number().int().min(0).max(3600).default(10),
  settle_seconds: z.number().min(0).max(600).default(1),
});

export type ContainerSpec = z.infer<typeof containerSchema>;

export interface DockerPlan {
  containers: ContainerSpec[];
  /** Payload files to `load`; undefined = every payload file. */
  images?: string[];
  stopTimeout: number;
  settleSeconds: number;
}

export function parsePlan(meta: Record<string, unknown>): DockerPlan {
  const parsed = metaSchema.safeParse(meta);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!; // a failed parse has at least one issue
    fail("DOCKER_META_DATA", `meta-data ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  const m = parsed.data;
  const shared = typeof m.run_args === "string" ? splitArgs(m.run_args) : m.run_args ?? [];
  const used = new Set<string>();
  const containers = m.containers.map((entry) => {
    const spec = typeof entry === "string"
      ? { name: nameFromImage(entry), image: entry, run_args: [...shared], command: [] }
      : entry;
    let name = spec.name;
    for (let n = 2; used.has(name); n++) name = `${spec.name}-${n}`;
    used.add(name);
    return { ...spec, name };
  });
  for (const image of m.images ?? []) {
    if (image.includes("/") || image === "." || image === "..") {
      fail("DOCKER_META_DATA", `meta-data images: ${image} must be a payload file name`);
    }
  }
  return {
    containers,
    images: m.images,
    stopTimeout: m.stop_timeout,
    settleSeconds: m.settle_seconds,
  };
}

/** "registry/team/web:1.2@sha256:..." -> "web" */
function nameFromImage(image: string): string {
  // split() always returns at least one element, so [0] and pop() are defined.
  const last = image.split("@")[0]!.split("/").pop()!.split(":")[0]!;
  const clean = last.replace(/[^A-Za-z0-9_.-]/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  return clean || "container";
}

/** Splits Mender's run_args string on whitespace (as its shell module does, unquoted). */
function splitArgs(text: string): string[] {
  return text.split(/\s+/).filter((word) => word !== "");
}
