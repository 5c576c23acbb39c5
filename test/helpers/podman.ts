/**
 * A private podman for tests: its own containers.conf and storage under a temp dir
 * (CONTAINERS_CONF / CONTAINERS_STORAGE_CONF), never the host's. podman on these machines
 * needs runc and no default ulimits (hybrid cgroups), set here, not globally. Images are
 * built from scratch with `podman import` of a tar holding busybox-static: no registry.
 */
import { run, type RunResult, sh } from "./mod.ts";

export interface Podman {
  root: string;
  /** Environment that points podman (and modules calling it) at this private setup. */
  env: Record<string, string>;
  podman(args: string[]): Promise<RunResult>;
  /** Runs podman and returns stdout, failing the test on a non-zero exit. */
  must(args: string[]): Promise<string>;
  [Symbol.asyncDispose](): Promise<void>;
}

export function podmanAvailable(): boolean {
  try {
    Deno.statSync("/usr/bin/podman");
    Deno.statSync("/bin/busybox");
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}

export async function privatePodman(root: string): Promise<Podman> {
  await Deno.mkdir(`${root}/tmp`, { recursive: true });
  await Deno.writeTextFile(
    `${root}/containers.conf`,
    `[containers]
default_ulimits = []
log_driver = "k8s-file"
# Containers get no network unless a test asks: the host's bridges are never touched.
netns = "none"

[engine]
runtime = "runc"
tmp_dir = "${root}/tmp"
events_logger = "file"
events_logfile_path = "${root}/events.log"
`,
  );
  await Deno.writeTextFile(
    `${root}/storage.conf`,
    `[storage]
driver = "overlay"
graphroot = "${root}/graph"
runroot = "${root}/run"
`,
  );
  const env = {
    CONTAINERS_CONF: `${root}/containers.conf`,
    CONTAINERS_STORAGE_CONF: `${root}/storage.conf`,
  };
  const podman = (args: string[]) => run(["podman", ...args], { env });
  return {
    root,
    env,
    podman,
    must: (args) => sh(["podman", ...args], { env }),
    async [Symbol.asyncDispose]() {
      await podman(["rm", "-f", "-a", "-t", "0"]);
      await podman(["system", "reset", "-f"]);
      await run(["umount", "-R", `${root}/graph/overlay`]);
    },
  };
}

/**
 * Builds image `reference` from a tar of busybox-static plus `files`, with `command` as
 * its CMD; returns the image ID.
 */
export async function buildBusyboxImage(
  p: Podman,
  reference: string,
  files: Record<string, string>,
  command: string[],
): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: p.root, prefix: "rootfs-" });
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  await Deno.copyFile("/bin/busybox", `${dir}/bin/busybox`);
  await Deno.chmod(`${dir}/bin/busybox`, 0o755);
  for (const applet of ["sh", "sleep", "cat", "false", "true", "echo"]) {
    await Deno.symlink("busybox", `${dir}/bin/${applet}`);
  }
  for (const [path, content] of Object.entries(files)) {
    const full = `${dir}/${path.replace(/^\/+/, "")}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, content);
  }
  await sh(["tar", "-cf", `${dir}.tar`, "-C", dir, "."]);
  await p.must([
    "import",
    "--change",
    `CMD ${JSON.stringify(command)}`,
    `${dir}.tar`,
    reference,
  ]);
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(`${dir}.tar`);
  return (await p.must(["image", "inspect", "--format", "{{.Id}}", reference])).trim();
}

/** A command for PID 1 that runs until stopped and exits at once on SIGTERM. */
export const SERVICE = ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 1000000 & wait"];

export interface ContainerState {
  id: string;
  image: string;
  running: boolean;
}

export async function containerState(p: Podman, name: string): Promise<ContainerState | undefined> {
  const result = await p.podman([
    "container",
    "inspect",
    "--format",
    "{{.Id}} {{.Image}} {{.State.Running}}",
    name,
  ]);
  if (result.code !== 0) return undefined;
  const [id, image, running] = result.stdout.trim().split(" ");
  if (!id || !image) throw new Error(`podman inspect printed ${JSON.stringify(result.stdout)}`);
  return { id, image, running: running === "true" };
}
