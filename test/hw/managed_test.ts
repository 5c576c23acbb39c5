/**
 * Managed mode on the emulated U-Boot board: `ota daemon` runs on the board as the shipped
 * systemd unit runs it (the board's init starts the unit's ExecStart, restarts it on failure
 * and stops it with SIGTERM before a reboot), against the contract server on the host. The
 * board's only network is QEMU's user network with restrict=on and one guestfwd to that
 * server (harness/network.ts): it can reach nothing else, and the first boot checks so.
 *
 * One board, two deployments: release-2, which reboots, is verified, committed and reported
 * (downloading, installing, rebooting, installing, success); then a release whose kernel
 * panics: U-Boot falls back, the daemon rolls back (one more reboot, as Mender's) and reports
 * failure with the log.
 */
import { assert, assertEquals, assertStringIncludes, defined } from "../helpers/assert.ts";
import { contractServer, type Recorded } from "../managed/contract_server.ts";
import { Board, type Boot } from "./harness/board.ts";
import { restrictedNetwork, SERVER_IP } from "./harness/network.ts";
import { describe, expect, expectBootloaderFallback, unavailable } from "./harness/scenario.ts";

const RELEASE = "77777777-aaaa-4bbb-8ccc-000000000001";
const PANIC = "77777777-aaaa-4bbb-8ccc-000000000002";

const statusOf = (r: Recorded) => (r.json as { status?: string } | undefined)?.status;
const statuses = (requests: Recorded[], id: string) =>
  requests.filter((r) => r.path === `/api/devices/v1/deployments/device/deployments/${id}/status`)
    .map((r) => `${statusOf(r)} ${r.status}`);

/** The daemon's settings, in the fallback configuration on the data partition. */
const CONFIG = JSON.stringify({
  ServerURL: `http://${SERVER_IP}`,
  UpdatePollIntervalSeconds: 2,
  InventoryPollIntervalSeconds: 3600,
  RetryPollIntervalSeconds: 5,
  DeviceKeyType: "ecdsa",
});

/** Every boot: the network, the service, and (on the last) the end of the second deployment. */
const serviceStep = `hw_net_up
hw_service /lib/systemd/system/ota.service
hw_wait_log ota "Deployment ${PANIC} finished: failure" 900
hw_env
hw_services_stop
hw_poweroff`;

/**
 * The first boot also configures the daemon and shows what the network lets through: a
 * download from the host's own address (the server's real port) and one from the forwarded
 * address (busybox's static wget crashes here; ota's downloader is what matters anyway).
 */
const firstStep = (hostPort: number) =>
  `echo '${CONFIG}' > /data/mender/mender.conf
hw_net_up
echo '{"RetryDownloadCount":0,"DownloadIdleTimeoutSeconds":5}' > /tmp/probe.conf
hw_run direct ota install -c /tmp/probe.conf http://10.0.2.2:${hostPort}/probe/direct.mender
hw_run forwarded ota install -c /tmp/probe.conf http://${SERVER_IP}/probe/forwarded.mender
${serviceStep}`;

const serviceLog = (boot: Boot) =>
  new TextDecoder().decode(
    Uint8Array.from(
      atob(boot.hw.find((h) => h.tag === "log")?.text.split(/\s+/)[2] ?? ""),
      (c) => c.charCodeAt(0),
    ),
  );

Deno.test({
  name: "emulated U-Boot board, managed: a deployment with a reboot commits; a kernel panic " +
    "falls back and is reported as failure with the log",
  ignore: unavailable !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await using board = await Board.create("uboot");
  await using server = await contractServer({ publicUrl: `http://${SERVER_IP}` });
  const art = board.images.artifacts;
  server.deployments.push({
    id: RELEASE,
    artifactName: "release-2",
    deviceTypes: [board.images.deviceType],
    file: defined(art["release-2"], "release-2"),
  });
  // the second deployment appears once the first is reported, as an operator would start it
  const watch = setInterval(() => {
    const done = server.requests.some((r) => statusOf(r) === "success" && r.status === 204);
    if (done && server.deployments.length === 1) {
      server.deployments.push({
        id: PANIC,
        artifactName: "panic",
        deviceTypes: [board.images.deviceType],
        file: defined(art.panic, "panic"),
      });
    }
  }, 200);
  const port = Number(new URL(server.url).port);
  const network = restrictedNetwork(port);
  const boots: Boot[] = [];
  try {
    while (boots.length < 7 && boots.at(-1)?.end !== "poweroff") {
      const step = boots.length === 0 ? firstStep(port) : serviceStep;
      boots.push(await board.boot(step, { network, timeoutMs: 600_000 }));
    }
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${await board.consoleTail(40)}`);
  } finally {
    clearInterval(watch);
  }
  const seconds = boots.map((b) => Math.round(b.ms / 1000));
  console.log(
    `[uboot managed] ${boots.length} power-ons in ${seconds.reduce((a, b) => a + b, 0)} s ` +
      `(${seconds.join(", ")})`,
  );
  const story = boots.map(describe).join("\n");
  assertEquals(boots.map((b) => `${b.end} ${b.part ?? "-"} ${b.release ?? "-"}`), [
    "reboot 2 release-1", // the daemon installs release-2 and reboots
    "reboot 3 release-2", // commits it, reports success, installs the panicking release
    "reset - -", // the new kernel panics
    "reboot 3 release-2", // U-Boot fell back; the daemon rolls back and reboots once more
    "poweroff 3 release-2", // the daemon reports the failure with the log
  ], story);
  const [first, , , fallback, last] = boots as [Boot, Boot, Boot, Boot, Boot];
  expectBootloaderFallback(fallback, "the boot after the panic");
  expect(last, "the last boot", {
    env: { mender_boot_part: "3", upgrade_available: "0" },
  });

  // the network: the server on the host is reachable only through the guestfwd
  expect(first, "the first boot", {
    rc: { direct: 1, forwarded: 1 },
    says: { direct: /SOURCE_(NETWORK|STALLED)/, forwarded: /404/ },
  });
  const probes = server.requests.filter((r) => r.path.startsWith("/probe/")).map((r) => r.path);
  assertEquals(probes, ["/probe/forwarded.mender"], "only the forwarded request arrives");

  assertEquals(statuses(server.requests, RELEASE), [
    "downloading 204",
    "installing 204",
    "rebooting 204",
    "installing 204",
    "success 204",
  ]);
  assertEquals(statuses(server.requests, PANIC), [
    "downloading 204",
    "installing 204",
    "rebooting 204",
    "failure 204",
  ]);
  const logs = server.requests.filter((r) => r.path.endsWith("/log"));
  assertEquals(logs.length, 1, "one log, for the failure");
  assertStringIncludes(defined(logs[0]).text, "the bootloader rolled back to the previous one");
  const api = server.requests.filter((r) => !r.path.startsWith("/probe/"));
  assertEquals(api.filter((r) => r.problems.length).map((r) => r.problems), []);

  // the service stopped on SIGTERM before each reboot, as systemd stops it
  for (const boot of boots.filter((b) => b.part !== undefined)) {
    assert(boot.hw.some((h) => /^service ota stopped/.test(h.text)), describe(boot));
    assert(!boot.hw.some((h) => /^service ota (killed|exited)/.test(h.text)), describe(boot));
  }
  assertStringIncludes(serviceLog(last), `Deployment ${PANIC} finished: failure`);
});
