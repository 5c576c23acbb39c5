/**
 * A power cut in every state of the machine, in process: the store's n-th write is the last
 * one before the power goes, the driver is dropped there, and a new one starts from what the
 * store holds (standalone: the restart rule; a daemon: the same, then `continue` at a pause,
 * booting again after each reboot). For each state the test knows what must follow, which
 * artifact is installed in the end, and, for a daemon, which report waits in the store.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { readInstalled } from "../../src/device/identity.ts";
import { MAX_STATE_WRITES } from "../../src/device/store.ts";
import { OtaError } from "../../src/errors.ts";
import { clearReport, restart } from "../../src/update/driver.ts";
import { machine, type StateName } from "../../src/update/machine.ts";
import { commit, install, rollback, standaloneHost } from "../../src/update/standalone.ts";
import { daemonStep, type HandlerSpec, type Kit, kit, line, PowerCut } from "./machine_kit.ts";

const INSTALL = "#ArtifactInstall ArtifactInstall_Enter ArtifactInstall ArtifactInstall_Leave";
const QUERIES = "NeedsArtifactReboot SupportsRollback";
const COMMIT = "#ArtifactCommit ArtifactCommit_Enter ArtifactCommit " +
  "#ArtifactCommitLeave ArtifactCommit_Leave #Cleanup Cleanup #Done";
const ROLLBACK = "#ArtifactRollback ArtifactRollback_Enter ArtifactRollback ArtifactRollback_Leave";
const FAILURE = "#ArtifactFailure ArtifactFailure_Enter ArtifactFailure ArtifactFailure_Leave";
const CLEANUP = "#Cleanup Cleanup #Done";
const AFTER_REBOOT = "#ArtifactVerifyReboot ArtifactVerifyReboot ArtifactReboot_Leave " +
  `#BeforeArtifactCommit status:installing ${COMMIT} report:success`;
const ROLLBACK_REBOOT = "#ArtifactRollbackReboot ArtifactRollbackReboot_Enter reboot " +
  "#ArtifactVerifyRollbackReboot ArtifactVerifyRollbackReboot ArtifactRollbackReboot_Leave " +
  `${FAILURE} ${CLEANUP} report:failure`;
const NEW = "release-2", OLD = "factory";

interface Scenario {
  name: string;
  daemon?: boolean;
  spec: HandlerSpec;
  steps: string[];
  /** After a cut right after this state was recorded: what follows, and what is installed. */
  cuts: Partial<Record<StateName, [string, string]>>;
}

const rootfsLike: HandlerSpec = { needsReboot: "Automatic", supportsRollback: true };

const scenarios: Scenario[] = [
  {
    name: "standalone install, reboot, commit",
    spec: rootfsLike,
    steps: ["install", "commit"],
    cuts: {
      Download: [CLEANUP, OLD],
      BeforeArtifactInstall: ["", OLD], // waits for `resume`
      ArtifactInstall: [`SupportsRollback ${ROLLBACK} ${FAILURE} ${CLEANUP}`, OLD],
      BeforeArtifactCommit: ["", OLD], // waits for `commit` or `rollback`
      ArtifactCommit: [COMMIT, NEW],
      ArtifactCommitLeave: [`#ArtifactCommitLeave ArtifactCommit_Leave ${CLEANUP}`, NEW],
      Cleanup: [CLEANUP, NEW],
      Done: ["", NEW],
    },
  },
  {
    name: "standalone install that fails",
    spec: { ...rootfsLike, fails: ["ArtifactInstall"] },
    steps: ["install"],
    cuts: {
      Download: [CLEANUP, OLD],
      BeforeArtifactInstall: ["", OLD],
      ArtifactInstall: [`SupportsRollback ${ROLLBACK} ${FAILURE} ${CLEANUP}`, OLD],
      ArtifactRollback: [`${ROLLBACK} ${FAILURE} ${CLEANUP}`, OLD],
      ArtifactFailure: [`${FAILURE} ${CLEANUP}`, OLD],
      Cleanup: [CLEANUP, OLD],
      Done: ["", OLD],
    },
  },
  {
    name: "standalone install, then rollback on request",
    spec: rootfsLike,
    steps: ["install", "rollback"],
    cuts: {
      Download: [CLEANUP, OLD],
      BeforeArtifactInstall: ["", OLD],
      ArtifactInstall: [`SupportsRollback ${ROLLBACK} ${FAILURE} ${CLEANUP}`, OLD],
      BeforeArtifactCommit: ["", OLD],
      ArtifactRollback: [`${ROLLBACK} ${CLEANUP}`, OLD], // still no failure
      Cleanup: [CLEANUP, OLD],
      Done: ["", OLD],
    },
  },
  {
    name: "daemon update with a reboot",
    daemon: true,
    spec: rootfsLike,
    steps: ["begin", "boot"],
    cuts: {
      Download: [`${CLEANUP} report:failure`, OLD],
      BeforeArtifactInstall: [
        `status:installing ${INSTALL} ${QUERIES} status:rebooting #ArtifactReboot ` +
        `ArtifactReboot_Enter reboot ${AFTER_REBOOT}`,
        NEW,
      ],
      ArtifactInstall: [`SupportsRollback ${ROLLBACK} NeedsArtifactReboot ${ROLLBACK_REBOOT}`, OLD],
      ArtifactReboot: [AFTER_REBOOT, NEW],
      ArtifactVerifyReboot: [`${ROLLBACK} ${ROLLBACK_REBOOT}`, OLD],
      BeforeArtifactCommit: [`status:installing ${COMMIT} report:success`, NEW],
      ArtifactCommit: [`status:installing ${COMMIT} report:success`, NEW],
      ArtifactCommitLeave: [
        `#ArtifactCommitLeave ArtifactCommit_Leave ${CLEANUP} report:success`,
        NEW,
      ],
      Cleanup: [`${CLEANUP} report:success`, NEW],
      Done: ["", NEW],
    },
  },
  {
    name: "daemon update whose new system fails verification",
    daemon: true,
    spec: { ...rootfsLike, fails: ["ArtifactVerifyReboot"] },
    steps: ["begin", "boot", "boot"],
    cuts: {
      Download: [`${CLEANUP} report:failure`, OLD],
      BeforeArtifactInstall: [
        `status:installing ${INSTALL} ${QUERIES} status:rebooting #ArtifactReboot ` +
        "ArtifactReboot_Enter reboot #ArtifactVerifyReboot ArtifactVerifyReboot " +
        `ArtifactReboot_Error ${ROLLBACK} ${ROLLBACK_REBOOT}`,
        OLD,
      ],
      ArtifactInstall: [`SupportsRollback ${ROLLBACK} NeedsArtifactReboot ${ROLLBACK_REBOOT}`, OLD],
      ArtifactReboot: [
        "#ArtifactVerifyReboot ArtifactVerifyReboot ArtifactReboot_Error " +
        `${ROLLBACK} ${ROLLBACK_REBOOT}`,
        OLD,
      ],
      ArtifactVerifyReboot: [`${ROLLBACK} ${ROLLBACK_REBOOT}`, OLD],
      ArtifactRollback: [`${ROLLBACK} ${ROLLBACK_REBOOT}`, OLD],
      ArtifactRollbackReboot: [ROLLBACK_REBOOT.slice(ROLLBACK_REBOOT.indexOf(" reboot ") + 8), OLD],
      ArtifactVerifyRollbackReboot: [
        ROLLBACK_REBOOT.slice(ROLLBACK_REBOOT.indexOf(" reboot ") + 8),
        OLD,
      ],
      ArtifactFailure: [`${FAILURE} ${CLEANUP} report:failure`, OLD],
      Cleanup: [`${CLEANUP} report:failure`, OLD],
      Done: ["", OLD],
    },
  },
];

/** Runs the scenario's steps; false when the power went out on the way. */
async function play(k: Kit, s: Scenario): Promise<boolean> {
  try {
    for (const step of s.steps) {
      const engine = k.engine({ spec: s.spec });
      if (s.daemon) await daemonStep(k, engine, step);
      else if (step === "install") await install(engine, await k.artifact(NEW)).catch(ignoreOta);
      else if (step === "commit") await commit(engine).catch(ignoreOta);
      else await rollback(engine).catch(ignoreOta);
    }
    return true;
  } catch (error) {
    if (error instanceof PowerCut) return false;
    throw error;
  }
}

function ignoreOta(error: unknown) {
  if (!(error instanceof OtaError)) throw error;
}

/** Power on: a new driver from the store; a daemon boots again after each reboot. */
async function powerOn(k: Kit, s: Scenario): Promise<void> {
  if (!s.daemon) {
    await restart(k.engine({ spec: s.spec }), standaloneHost, await k.store()).catch(ignoreOta);
    return;
  }
  for (let boots = 0; boots < 4; boots++) {
    await daemonStep(k, k.engine({ spec: s.spec }), "boot");
    if (k.log.at(-1) !== "reboot") return;
  }
  throw new Error("still rebooting after 4 boots");
}

const recordedStates = (log: string[]) =>
  log.filter((e) => e.startsWith("#")).map((e) => e.slice(1));

for (const s of scenarios) {
  Deno.test(`power cut in every state: ${s.name}`, async () => {
    const whole = await kit();
    assert(await play(whole, s));
    const written = recordedStates(whole.log);
    await whole[Symbol.asyncDispose]();
    assertEquals([...new Set(written)].sort(), Object.keys(s.cuts).sort(), "states written");
    for (let n = 1; n <= written.length; n++) {
      await using k = await kit();
      k.cutAfterWrite = n;
      assertEquals(await play(k, s), false, `the power went out after write ${n}`);
      const cut = recordedStates(k.log).at(-1) as StateName;
      const before = k.log.length;
      k.cutAfterWrite = undefined;
      await powerOn(k, s);
      const [continues, installed] = s.cuts[cut]!;
      const what = `after a cut in ${cut} (write ${n})`;
      assertEquals(line(k.log.slice(before)), continues, what);
      assertEquals((await readInstalled(k.engine().paths)).artifactName, installed, what);
      const store = await k.store();
      if (s.daemon && !store.update) {
        assertEquals(store.report?.status, installed === NEW ? "success" : "failure", what);
      }
    }
  });
}

Deno.test("power cuts: the scenarios cut in every state the machine records", () => {
  const recorded = Object.entries(machine).filter(([, row]) => row.kind !== "choice").map((
    [name],
  ) => name);
  const cut = new Set(scenarios.flatMap((s) => Object.keys(s.cuts)));
  assertEquals(recorded.filter((state) => !cut.has(state)), []);
});

Deno.test("endless restarts: past the write limit every state takes its failure event", async () => {
  await using k = await kit();
  await install(k.engine({ spec: rootfsLike }), await k.artifact(NEW));
  const store = await k.store();
  store.writes = MAX_STATE_WRITES;
  await k.engine().save(store);
  const before = k.log.length;
  const error = await commit(k.engine({ spec: rootfsLike })).catch((e) => e);
  assert(error instanceof OtaError && error.code === "INTERRUPTED", String(error));
  assertEquals(error.message, "the update kept restarting; giving up; the update was abandoned");
  assertEquals(
    line(k.log.slice(before)),
    "#ArtifactCommit #ArtifactRollback #ArtifactFailure #Cleanup #Done",
  );
});

Deno.test("the report of a finished update waits in the store until the daemon clears it", async () => {
  await using k = await kit();
  const engine = k.engine({ spec: { needsReboot: "No", supportsRollback: true } });
  await daemonStep(k, engine, "begin");
  const store = await k.store();
  assertEquals(store.update, undefined);
  assertEquals(store.report?.status, "success");
  assertEquals(store.report?.artifactName, NEW);
  const log = await Deno.readTextFile(store.report!.log!);
  assert(log.includes("Update "), "the update's own log");
  await clearReport(engine, store);
  assertEquals((await k.store()).report, undefined);
});
