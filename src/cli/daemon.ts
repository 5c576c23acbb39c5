/**
 * Managed mode's commands, as Mender has them: `daemon` runs against the server in
 * mender.conf; `check-update` and `send-inventory` make a running daemon poll or send its
 * inventory at once.
 */
import { Command } from "commander";
import { controlCommands, sendControl } from "../managed/control.ts";
import { runDaemon } from "../managed/daemon.ts";
import { addDeviceOptions, type DeviceOptions, engineFor } from "./update.ts";

export function daemonCommands(): Command[] {
  const daemon = addDeviceOptions(new Command("daemon"))
    .description("run managed mode: poll the Mender server, install deployments, report")
    .addHelpText(
      "after",
      `
The server, its certificate, the tenant token and the intervals come from mender.conf
(ServerURL or Servers, ServerCertificate, TenantToken, UpdatePollIntervalSeconds, ...).

Examples:
  ota daemon                          # as the systemd unit runs it
  ota daemon -c ./mender.conf -d ./data --log-level debug`,
    )
    .action(async (o: DeviceOptions) => {
      await runDaemon({ engine: await engineFor(o, "none") });
    });

  const control = controlCommands.map((name) =>
    addDeviceOptions(new Command(name))
      .description(
        name === "check-update"
          ? "make the running daemon ask the server for a deployment now"
          : "make the running daemon send its inventory now",
      )
      .addHelpText("after", `\nExample:\n  ota ${name}          # exit 1 when no daemon runs`)
      .action(async (o: DeviceOptions) => {
        await sendControl(o.data, name);
        console.log(`The daemon took ${name}.`);
      })
  );
  return [daemon, ...control];
}
