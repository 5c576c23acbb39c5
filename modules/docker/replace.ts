/**
 * Replacing containers, crash-safe: the containers that carry the names in the meta-data
 * are recorded first, then each is stopped and renamed NAME.ota-prev (kept, with its image
 * and its whole run configuration), and the new one is created as NAME with a label naming
 * this deployment. Rollback removes the labelled ones and renames the old ones back;
 * Cleanup after a commit removes the old containers and their images. Every step checks
 * what is there before acting, so each state can be run again after a kill.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { fail } from "../../src/errors.ts";
import { artifactName, payloadFiles } from "../common/tree.ts";
import type { Steps } from "../common/steps.ts";
import type { Engine } from "./engine.ts";
import type { DockerPlan } from "./meta.ts";
import { asideName, DEPLOYMENT_LABEL, newState, readState, writeState } from "./state.ts";

type Log = (message: string) => void;

export async function install(
  tree: string,
  plan: DockerPlan,
  engine: Engine,
  steps: Steps,
  log: Log,
) {
  let state = await readState(tree);
  if (state?.phase === "installed" || state?.phase === "committed") return;
  if (!state || state.phase === "rolled-back") state = newState(engine.command);

  // 1. Record the containers as they are, once: a re-run must not take the half-replaced
  // set for the original one.
  for (const spec of plan.containers) {
    if (state.previous.some((p) => p.name === spec.name)) continue;
    const aside = await engine.inspect(asideName(spec.name));
    if (aside) {
      log(`removing ${aside.name}, left by an earlier deployment`);
      await engine.remove(aside.name);
    }
    const info = await engine.inspect(spec.name);
    state.previous.push(
      info
        ? { name: spec.name, existed: true, id: info.id, image: info.image, running: info.running }
        : { name: spec.name, existed: false },
    );
  }
  await writeState(tree, state);
  steps.done("previous containers recorded");

  // 2. Images come with the artifact (no registry needed); a bare reference is pulled
  // only when the engine does not have it.
  const files = plan.images ?? await payloadFiles(tree);
  for (const file of files) {
    log(`loading images from ${file}`);
    await engine.load(`${tree}/files/${file}`);
  }
  for (const spec of plan.containers) {
    if (!(await engine.imageId(spec.image))) {
      log(`pulling ${spec.image}`);
      await engine.pull(spec.image);
    }
  }
  steps.done("images loaded");

  // 3. Replace, one name at a time.
  const artifact = await artifactName(tree);
  for (const spec of plan.containers) {
    const current = await engine.inspect(spec.name);
    if (current?.labels[DEPLOYMENT_LABEL] === state.deployment) {
      if (!current.running) await engine.start(spec.name);
      continue;
    }
    if (current) {
      log(`stopping ${spec.name} and keeping it as ${asideName(spec.name)}`);
      if (current.running) await engine.stop(spec.name, plan.stopTimeout);
      await engine.rename(spec.name, asideName(spec.name));
      steps.done(`${spec.name}: old container aside`);
    }
    log(`starting ${spec.name} from ${spec.image}`);
    await engine.run([
      "--name",
      spec.name,
      "--label",
      `${DEPLOYMENT_LABEL}=${state.deployment}`,
      "--label",
      `io.ota.artifact=${artifact}`,
      ...spec.run_args,
      spec.image,
      ...spec.command,
    ]);
    steps.done(`${spec.name}: new container started`);
  }

  // 4. A container that exits right away is a failed update: the client then rolls back.
  if (plan.settleSeconds > 0) await sleep(plan.settleSeconds * 1000);
  for (const spec of plan.containers) {
    const info = await engine.inspect(spec.name);
    if (!info?.running) {
      fail(
        "DOCKER_NOT_RUNNING",
        `container ${spec.name} (${spec.image}) is not running after start`,
      );
    }
  }
  await writeState(tree, { ...state, phase: "installed" });
  steps.done("installed");
}

export async function commit(tree: string, steps: Steps) {
  const state = await readState(tree);
  if (state?.phase === "committed") return;
  if (state?.phase !== "installed") {
    fail("DOCKER_NOT_INSTALLED", "nothing was installed in this deployment, so nothing to commit");
  }
  await writeState(tree, { ...state, phase: "committed" });
  steps.done("committed");
}

export async function rollback(tree: string, engine: Engine, steps: Steps, log: Log) {
  const state = await readState(tree);
  if (!state || state.phase === "rolled-back") return;
  for (const previous of state.previous) {
    const current = await engine.inspect(previous.name);
    if (current?.labels[DEPLOYMENT_LABEL] === state.deployment) {
      log(`removing ${previous.name} of this deployment`);
      await engine.remove(previous.name);
      steps.done(`${previous.name}: new container removed`);
    }
    if (!previous.existed) continue;
    const aside = await engine.inspect(asideName(previous.name));
    if (aside) {
      await engine.rename(aside.name, previous.name);
      steps.done(`${previous.name}: old container back`);
    } else if (!(await engine.inspect(previous.name))) {
      fail(
        "DOCKER_ROLLBACK",
        `the previous ${previous.name} (${previous.id}) is gone; recreate it by hand`,
      );
    }
    const restored = await engine.inspect(previous.name);
    if (previous.running && !restored?.running) {
      log(`starting ${previous.name} again`);
      await engine.start(previous.name);
    }
  }
  await writeState(tree, { ...state, phase: "rolled-back" });
  steps.done("rolled back");
}

/** After a commit: drop the old containers and, when no longer used, their images. */
export async function cleanup(tree: string, engine: Engine, steps: Steps, log: Log) {
  const state = await readState(tree);
  if (!state || state.phase === "rolled-back") return;
  if (state.phase !== "committed") {
    await rollback(tree, engine, steps, log);
    return;
  }
  for (const previous of state.previous) {
    if (!previous.existed) continue;
    if (await engine.inspect(asideName(previous.name))) {
      await engine.remove(asideName(previous.name));
      steps.done(`${previous.name}: old container removed`);
    }
    const current = await engine.inspect(previous.name);
    if (previous.image && current?.image !== previous.image) {
      // Fails harmlessly while another container still uses the image.
      if (await engine.removeImage(previous.image)) log(`removed old image ${previous.image}`);
    }
  }
}
