/**
 * Faults: the real `ota daemon` dies by SIGKILL right after it recorded each point of a
 * deployment on the simulated A/B board (OTA_TEST_DIE_AFTER, src/managed/fault_hook.ts), is
 * started again as systemd would start it, and the test checks the end: the device is whole
 * and the server got the right final status exactly once (and the log of a failure once).
 * The right status is Mender 5's rule for a restart in that state (src/update/machine.ts):
 * an interrupted download, installation or verification fails and rolls back, a pause or a
 * commit goes on, a recorded report is sent. A kill is no boot: after a kill right before the
 * reboot the old system still runs, and the verification after it fails, as in Mender.
 */
import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import {
  assertWhole,
  type Board,
  board,
  drive,
  finals,
  ready,
  reports,
  statusOf,
} from "./board.ts";
import type { RunningClient } from "./fixture.ts";

const logs = (b: Board) => b.server.requests.filter((r) => r.path.endsWith("/log")).length;

interface Point {
  /** Where the first daemon dies (an update state, `report` or `report-status`). */
  at: string;
  final: "success" | "failure";
  /** The new system fails: it boots once and the bootloader falls back to the old one. */
  fallback?: boolean;
  /** The board also restarts (a power cut), not only the daemon. */
  powerCut?: boolean;
}

const points: Point[] = [
  { at: "Download_Enter", final: "failure" },
  { at: "Before_ArtifactInstall_Enter", final: "success" },
  { at: "ArtifactInstall_Enter", final: "failure" },
  { at: "ArtifactReboot_Enter", final: "failure" },
  { at: "ArtifactReboot_Enter", final: "success", powerCut: true },
  { at: "ArtifactVerifyReboot", final: "failure" },
  { at: "Before_ArtifactCommit_Enter", final: "success" },
  { at: "ArtifactCommit_Enter", final: "success" },
  { at: "ArtifactCommit_Leave", final: "success" },
  { at: "Cleanup", final: "success" },
  { at: "report", final: "success" },
  { at: "report-status", final: "success" },
  { at: "ArtifactRollback_Enter", final: "failure", fallback: true },
  { at: "ArtifactRollbackReboot_Enter", final: "failure", fallback: true },
  { at: "ArtifactVerifyRollbackReboot", final: "failure", fallback: true },
  { at: "ArtifactFailure_Enter", final: "failure", fallback: true },
  { at: "report", final: "failure", fallback: true },
  { at: "report-status", final: "failure", fallback: true },
];

for (const p of points) {
  const name = `SIGKILL after ${p.at}${p.fallback ? " (the new system fails)" : ""}${
    p.powerCut ? " and a power cut" : ""
  }: ${p.final} once, the device whole`;
  Deno.test({ name, ignore: !ready, sanitizeResources: false }, async () => {
    const b = await board();
    await using _f = b.f;
    await using _s = b.server;
    const dying = () => b.start({ OTA_TEST_DIE_AFTER: p.at });
    let dead = false;
    let last = "";
    const watch = (client: RunningClient) => {
      client.exited.then((code) => {
        if (code !== 0 && !dead) [dead, last] = [true, client.output()];
      });
      return client;
    };
    const daemon = { current: watch(dying()) };
    // the bootloader model: the new system boots once and falls back when it fails
    const boot = async () => {
      await b.f.boot();
      if (p.fallback && (await b.f.state()).booted === "3") await b.f.boot();
    };
    try {
      await drive(b, daemon, () => Promise.resolve(dead), () => watch(dying()), boot);
      assertStringIncludes(last, `OTA_TEST_DIE_AFTER=${p.at}: killing the daemon here`);
      if (p.powerCut) await b.f.boot();
      daemon.current = b.start();
      await drive(b, daemon, () => Promise.resolve(finals(b.server).length > 0), undefined, boot);
      await new Promise((resolve) => setTimeout(resolve, 1500)); // nothing else must follow
    } finally {
      await daemon.current.stop();
    }
    assertEquals(finals(b.server).map(statusOf), [p.final], reports(b.server).join(", "));
    assertEquals(logs(b), p.final === "failure" ? 1 : 0, "the log of a failure, once");
    await assertWhole(b, p.final === "success" ? "release-2" : "factory-image");
  });
}
