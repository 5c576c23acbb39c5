/**
 * Update Modules, protocol v3: `<module> <STATE> <FILE_TREE>` for every state, with the
 * file tree as working directory, output into the update log, and ModuleTimeoutSeconds on
 * every call (SIGTERM, then SIGKILL). Mender's own modules run unchanged.
 */
import { promises as fs } from "node:fs";
import { join } from "node:path";
import type { PayloadAugment } from "../artifact/header.ts";
import { isSafeBaseName } from "../artifact/names.ts";
import { fail, isOtaError } from "../errors.ts";
import { runProcess } from "../process.ts";
import type { DownloadContext, HandlerContext, PayloadHandler, RebootAnswer } from "./handler.ts";
import { moduleDownload, type ModuleProcess } from "./module_download.ts";
import { createTree, removeTree, treeDir } from "./module_tree.ts";

const MAX_QUERY_OUTPUT = 4096;
const KILL_GRACE_MS = 10_000;

export async function findModule(type: string, modulesDir: string): Promise<string> {
  if (!isSafeBaseName(type)) {
    fail("UNSAFE_NAME", `payload type ${JSON.stringify(type)} is not a valid Update Module name`);
  }
  const path = join(modulesDir, type);
  const stat = await fs.stat(path).catch(() => undefined);
  if (!stat?.isFile()) {
    fail(
      "MODULE_MISSING",
      `no Update Module for payload type ${type}: ${path} does not exist; install the module first`,
    );
  }
  if ((stat.mode & 0o111) === 0) {
    fail("MODULE_NOT_EXECUTABLE", `the Update Module ${path} is not executable (chmod +x it)`);
  }
  return path;
}

function call(path: string, state: string, ctx: HandlerContext, maxStdout?: number) {
  const tree = treeDir(ctx);
  const timeout = ctx.config.ModuleTimeoutSeconds;
  return runProcess(path, [state, tree], {
    cwd: tree,
    timeoutMs: timeout * 1000,
    killAfterMs: Math.min(KILL_GRACE_MS, timeout * 1000),
    maxStdout,
    onLine: (stream, line) =>
      ctx.log.info(`${state} ${stream === "stderr" ? "(stderr) " : ""}${line}`),
  }).then((result) => {
    if (result.timedOut) {
      fail(
        "MODULE_TIMEOUT",
        `the Update Module ${path} did not finish ${state} within ${timeout} s and was stopped`,
      );
    }
    return result;
  }, (error) => {
    if (isOtaError(error, "OUTPUT_LIMIT")) {
      fail(
        "MODULE_OUTPUT",
        `the Update Module ${path} printed more than ${maxStdout} bytes in ${state}`,
      );
    }
    fail(
      "MODULE_FAILED",
      `the Update Module ${path} could not run ${state}: ${(error as Error).message}`,
    );
  });
}

async function runState(path: string, state: string, ctx: HandlerContext): Promise<void> {
  const result = await call(path, state, ctx);
  if (result.code !== 0) {
    fail(
      "MODULE_FAILED",
      `the Update Module ${path.split("/").pop()} failed in ${state} (${
        result.signal ?? `exit ${result.code}`
      })`,
    );
  }
}

async function query<T extends string>(
  path: string,
  state: string,
  ctx: HandlerContext,
  valid: readonly T[],
  fallback: T,
): Promise<T> {
  const result = await call(path, state, ctx, MAX_QUERY_OUTPUT);
  if (result.code !== 0) {
    fail("MODULE_FAILED", `the Update Module failed answering ${state} (exit ${result.code})`);
  }
  const lines = result.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0) return fallback;
  if (lines.length > 1 || !valid.includes(lines[0] as T)) {
    fail(
      "MODULE_ANSWER",
      `the Update Module answered ${state} with ${
        JSON.stringify(result.stdout.trim().slice(0, 80))
      }; expected ${valid.join(" or ")}`,
    );
  }
  return lines[0] as T;
}

/**
 * An augmented payload goes only to a module that asks for it, by Mender's module protocol:
 * `SupportsAugmentedArtifacts` answered with exactly YesThisModuleSupportsAugmentedArtifacts,
 * and, when the augment chose this module over the signed type, that type among the lines
 * of `ListSupportedOriginalTypes`. (Mender 3.4 refuses every augmented module payload.)
 */
async function requireAugmentSupport(
  path: string,
  ctx: HandlerContext,
  augment: PayloadAugment,
): Promise<void> {
  const name = path.split("/").pop();
  const answer = await call(path, "SupportsAugmentedArtifacts", ctx, MAX_QUERY_OUTPUT);
  const lines = answer.stdout.split("\n").map((line) => line.trim()).filter(Boolean);
  if (answer.code !== 0 || lines.join("\n") !== "YesThisModuleSupportsAugmentedArtifacts") {
    fail(
      "AUGMENT_REFUSED",
      `the Update Module ${name} does not take augmented payloads (it does not answer ` +
        "SupportsAugmentedArtifacts with YesThisModuleSupportsAugmentedArtifacts)",
    );
  }
  if (augment.originalType === name) return;
  const types = await call(path, "ListSupportedOriginalTypes", ctx, MAX_QUERY_OUTPUT);
  const listed = types.stdout.split("\n").map((line) => line.trim());
  if (types.code !== 0 || !listed.includes(augment.originalType)) {
    fail(
      "AUGMENT_REFUSED",
      `the Update Module ${name} does not list the signed payload type ` +
        `${augment.originalType} in ListSupportedOriginalTypes`,
    );
  }
}

export async function moduleHandler(type: string, modulesDir: string): Promise<PayloadHandler> {
  const path = await findModule(type, modulesDir);
  const state = (name: string) => (ctx: HandlerContext) => runState(path, name, ctx);
  return {
    type,
    async download(files, ctx: DownloadContext) {
      const tree = await createTree(ctx);
      if (ctx.payload.augment) await requireAugmentSupport(path, ctx, ctx.payload.augment);
      const start = (): ModuleProcess => ({
        done: call(path, "Download", ctx).then((r) => r.code ?? 1),
      });
      await moduleDownload(tree, files, start, ctx.onBytes);
    },
    install: state("ArtifactInstall"),
    needsReboot: (ctx) =>
      query<RebootAnswer>(path, "NeedsArtifactReboot", ctx, ["No", "Yes", "Automatic"], "No"),
    supportsRollback: async (ctx) =>
      (await query(path, "SupportsRollback", ctx, ["Yes", "No"], "No")) === "Yes",
    reboot: state("ArtifactReboot"),
    verifyReboot: state("ArtifactVerifyReboot"),
    commit: state("ArtifactCommit"),
    rollback: state("ArtifactRollback"),
    rollbackReboot: state("ArtifactRollbackReboot"),
    verifyRollbackReboot: state("ArtifactVerifyRollbackReboot"),
    failure: state("ArtifactFailure"),
    async cleanup(ctx) {
      await runState(path, "Cleanup", ctx).catch((error) =>
        ctx.log.error((error as Error).message)
      );
      await removeTree(ctx);
    },
  };
}
