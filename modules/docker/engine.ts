/**
 * The container engine's command line (docker, or podman's docker-compatible one): only
 * the subcommands both share, so the module runs unchanged on either.
 */
import { accessSync, constants } from "node:fs";
import process from "node:process";
import { fail } from "../../src/errors.ts";
import { runCommand, runTool } from "../common/tool.ts";

export interface ContainerInfo {
  id: string;
  name: string;
  /** Image ID the container was created from. */
  image: string;
  running: boolean;
  labels: Record<string, string>;
}

export interface Engine {
  command: string;
  inspect(name: string): Promise<ContainerInfo | undefined>;
  imageId(reference: string): Promise<string | undefined>;
  load(archive: string): Promise<void>;
  pull(reference: string): Promise<void>;
  run(args: string[]): Promise<void>;
  start(name: string): Promise<void>;
  stop(name: string, timeout: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  remove(name: string): Promise<void>;
  removeImage(id: string): Promise<boolean>;
}

/** OTA_CONTAINER_ENGINE, else the first of docker, podman found in PATH. */
export function chooseEngine(env: Record<string, string | undefined> = process.env): string {
  const wanted = env.OTA_CONTAINER_ENGINE?.trim();
  if (wanted) return wanted;
  for (const name of ["docker", "podman"]) {
    if (inPath(name, env.PATH ?? "")) return name;
  }
  fail(
    "DOCKER_ENGINE",
    "neither docker nor podman is in PATH; install one or set OTA_CONTAINER_ENGINE",
  );
}

function inPath(name: string, path: string): boolean {
  return path.split(":").some((dir) => {
    try {
      accessSync(`${dir || "."}/${name}`, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export function engine(command: string): Engine {
  const tool = (args: string[]) => runTool("DOCKER_ENGINE", command, args);
  return {
    command,
    async inspect(name) {
      const result = await runCommand(command, ["container", "inspect", name]);
      if (result.code !== 0) {
        if (/no such (object|container)/i.test(result.stderr)) return undefined;
        fail(
          "DOCKER_ENGINE",
          `${command} container inspect ${name} failed: ${result.stderr.trim()}`,
        );
      }
      const [info] = JSON.parse(result.stdout) as Array<{
        Id: string;
        Name: string;
        Image: string;
        State: { Running: boolean };
        Config: { Labels: Record<string, string> | null };
      }>;
      if (!info) fail("DOCKER_ENGINE", `${command} container inspect ${name} printed no container`);
      return {
        id: info.Id,
        name: info.Name.replace(/^\//, ""),
        image: info.Image,
        running: info.State.Running,
        labels: info.Config.Labels ?? {},
      };
    },
    async imageId(reference) {
      const result = await runCommand(command, [
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        reference,
      ]);
      return result.code === 0 ? result.stdout.trim() : undefined;
    },
    async load(archive) {
      await tool(["load", "-i", archive]);
    },
    async pull(reference) {
      await tool(["pull", reference]);
    },
    async run(args) {
      await tool(["run", "-d", ...args]);
    },
    async start(name) {
      await tool(["start", name]);
    },
    async stop(name, timeout) {
      await tool(["stop", "-t", String(timeout), name]);
    },
    async rename(from, to) {
      await tool(["rename", from, to]);
    },
    async remove(name) {
      await tool(["rm", "-f", name]);
    },
    async removeImage(id) {
      return (await runCommand(command, ["rmi", id])).code === 0;
    },
  };
}
