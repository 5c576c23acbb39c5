/**
 * The real Mender 3.4 client is the oracle: the same scenario runs against two contract
 * servers, one with `mender daemon` (3.4, /usr/bin/mender), one with `ota daemon`, each on its
 * own device in a private mount namespace. The two request sequences must be the same once
 * ids, times and tokens are normalised and the differences listed in README.md are taken out
 * (oracle_rules.ts); any other difference fails the test. Only scenarios that stay clear of
 * 3.4's one-minute retry floor run here.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { BINARY, hasCommand, tempDir } from "../helpers/mod.ts";
import { menderClientAvailable } from "../helpers/mender_client.ts";
import {
  contractServer,
  type DeploymentSpec,
  type Recorded,
  type Switches,
} from "./contract_server.ts";
import {
  type Client,
  DEVICE_TYPE,
  mainDeployments,
  type ManagedDevice,
  managedDevice,
  moduleArtifact,
  startClient,
} from "./fixture.ts";
import { compareable, describeDifference } from "./oracle_rules.ts";
import { makePki, type TestPki } from "./tls.ts";

const ready = menderClientAvailable() && hasCommand("mender-artifact") && hasCommand("unshare") &&
  (() => {
    try {
      return Deno.statSync(BINARY).isFile;
    } catch {
      return false;
    }
  })();

interface Scenario {
  switches?: Switches;
  /** Idle, Sync and Download scripts in /etc/mender/scripts that log their names. */
  scripts?: boolean;
  deployments(device: ManagedDevice): Promise<DeploymentSpec[]>;
}

interface Run {
  requests: Recorded[];
  seconds: number;
  installed: string;
  /** The state scripts that ran, in order, up to the end of the last deployment. */
  scripts: string[];
}

const SCRIPT_NAMES = ["Idle", "Sync", "Download"].flatMap((state) =>
  ["Enter", "Leave", "Error"].map((action) => `${state}_${action}_00`)
);

function loggingScripts(logFile: string): Record<string, string> {
  return Object.fromEntries([
    ...SCRIPT_NAMES.map((name) => [name, `#!/bin/sh\necho "$(basename "$0")" >> "${logFile}"\n`]),
    ["version", "3\n"],
  ]);
}

/** The script names up to the first Idle_Enter after the last Download_Leave. */
function scriptsUntilIdle(text: string): string[] {
  const names = text.split("\n").filter(Boolean);
  const lastDownload = names.lastIndexOf("Download_Leave_00");
  const idle = names.indexOf("Idle_Enter_00", lastDownload);
  return idle < 0 ? names : names.slice(0, idle + 1);
}

const FINAL = ["success", "failure", "already-installed"];

async function runScenario(
  client: Client,
  scenario: Scenario,
  dir: string,
  pki: TestPki,
): Promise<Run> {
  await using server = await contractServer({
    tls: { cert: pki.serverCert, key: pki.serverKey },
    switches: structuredClone(scenario.switches ?? {}),
  });
  const scriptLog = `${dir}/${client}-scripts.log`;
  const device = await managedDevice(`${dir}/${client}`, {
    server,
    serverCertificate: pki.files.ca,
    rootfsScripts: scenario.scripts ? loggingScripts(scriptLog) : undefined,
  });
  server.deployments.push(...await scenario.deployments(device));
  const started = performance.now();
  await using running = startClient(device, client);
  const settled = (requests: Recorded[]) =>
    server.deployments.every((d) => server.reports(d.id).some((s) => FINAL.includes(s))) &&
    requests.at(-1)?.path.endsWith("/next") === true && requests.at(-1)?.status === 204;
  try {
    await server.waitFor(settled, 90_000, `${client} to finish the scenario`);
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\n--- ${client} output:\n${running.output().slice(-4000)}`,
    );
  }
  const seconds = (performance.now() - started) / 1000;
  const code = await running.stop();
  assertEquals(code, 0, `${client} daemon exits 0 on SIGTERM:\n${running.output().slice(-2000)}`);
  const problems = server.requests.flatMap((r) =>
    r.problems.map((p) => `${r.method} ${r.path}: ${p}`)
  );
  assertEquals(problems, [], `${client} sent requests the contract refuses`);
  const installed = await Deno.readTextFile(`${device.installed}/app.txt`).catch(() => "(none)");
  const scripts = scriptsUntilIdle(await Deno.readTextFile(scriptLog).catch(() => ""));
  return {
    requests: [...server.requests],
    seconds,
    installed: installed.split("\n")[0] ?? "",
    scripts,
  };
}

async function oracle(name: string, scenario: Scenario) {
  await using dir = await tempDir("ota-oracle-");
  const pki = await makePki(dir.path);
  const [mender, ota] = await Promise.all([
    runScenario("mender", scenario, dir.path, pki),
    runScenario("ota", scenario, dir.path, pki),
  ]);
  const seen = compareable(mender.requests, ota.requests);
  console.log(
    `oracle ${name}: mender 3.4 ${
      mender.seconds.toFixed(1)
    } s (${mender.requests.length} requests), ota ${
      ota.seconds.toFixed(1)
    } s (${ota.requests.length} requests), ${seen.ota.length} compared`,
  );
  if (Deno.env.get("ORACLE_DUMP")) console.log(describeDifference(seen.mender, seen.ota));
  assertEquals(seen.ota, seen.mender, describeDifference(seen.mender, seen.ota));
  assertEquals(ota.installed, mender.installed, "both devices end with the same installed file");
  assertEquals(ota.scripts, mender.scripts, "Idle, Sync and Download scripts run in 3.4's order");
  return { mender, ota, seen };
}

Deno.test({
  name:
    "oracle: success with a forced 401, already installed, module failure, abort, other device type",
  ignore: !ready,
  sanitizeResources: false,
  async fn() {
    const { seen } = await oracle("main", {
      // the first `installing` of deployment 1 gets 401 and every token is revoked
      switches: { force401: [{ method: "PUT", path: /\/status$/, status: "installing" }] },
      deployments: mainDeployments,
    });
    const joined = seen.ota.join("\n");
    for (
      const expected of ['"already-installed"', '"failure"} -> 409', "PUT log D3", "PUT log D5"]
    ) {
      assert(joined.includes(expected), `the scenario exercised ${expected}`);
    }
    assert(!joined.includes("PUT log D4"), "no log for an aborted deployment");
  },
});

Deno.test({
  name: "oracle: an open-source server (no v2 next, inventory PUT answers 405)",
  ignore: !ready,
  sanitizeResources: false,
  async fn() {
    const { seen, ota } = await oracle("oss", {
      switches: { noV2: true, inventory405: true },
      scripts: true,
      deployments: async (device) => [{
        id: "22222222-aaaa-4bbb-8ccc-000000000001",
        artifactName: "app-1.0",
        deviceTypes: [DEVICE_TYPE],
        file: await moduleArtifact(device, "app-1.0"),
        offerAfterPolls: 1,
      }],
    });
    const joined = seen.ota.join("\n");
    assert(joined.includes("PATCH inventory"), "PATCH after 405");
    assert(joined.includes("GET v1 next"), "the GET fallback was used");
    assert(
      ota.scripts.includes("Download_Leave_00") && ota.scripts.length > 10,
      ota.scripts.join(),
    );
  },
});
