/**
 * `mender-auth daemon`: the device's token for Mender's add-ons (mender-connect,
 * mender-configure) over the system D-Bus, as Mender 4's auth daemon offers it: the name
 * io.mender.AuthenticationManager, the object /io/mender/AuthenticationManager, the interface
 * io.mender.Authentication1 with GetJwtToken (token and server URL, empty until fetched),
 * FetchJwtToken (true at once; the outcome follows as the signal JwtTokenStateChange, with
 * empty strings after a failure). The server URL given is the server's own (Mender 4 gives a
 * local forwarding proxy instead; 3.4 gave the server's).
 */
import process from "node:process";
import type { Config } from "../device/config.ts";
import { fail } from "../errors.ts";
import type { Logger } from "../log.ts";
import { createDeviceApi } from "./api.ts";
import { type Bus, connectBus, type Message, type Reply, systemBusPath } from "./dbus.ts";
import type { DeviceKey } from "./key.ts";

export const BUS_NAME = "io.mender.AuthenticationManager";
export const OBJECT_PATH = "/io/mender/AuthenticationManager";
export const INTERFACE = "io.mender.Authentication1";

const INTROSPECTION =
  `<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
<node>
  <interface name="${INTERFACE}">
    <method name="GetJwtToken">
      <arg type="s" name="token" direction="out"/>
      <arg type="s" name="server_url" direction="out"/>
    </method>
    <method name="FetchJwtToken">
      <arg type="b" name="success" direction="out"/>
    </method>
    <signal name="JwtTokenStateChange">
      <arg type="s" name="token"/>
      <arg type="s" name="server_url"/>
    </signal>
  </interface>
  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg type="s" name="xml" direction="out"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Peer">
    <method name="Ping"/>
  </interface>
</node>
`;

export interface AuthDaemonOptions {
  config: Config;
  key: DeviceKey;
  log: Logger;
  env?: Record<string, string | undefined>;
  /** Resolves once the name is owned (tests). */
  ready?: (bus: Bus) => void;
}

/** Serves until SIGTERM or SIGINT, or until the bus goes away. */
export async function runAuthDaemon(options: AuthDaemonOptions): Promise<void> {
  const { config, key, log } = options;
  const api = await createDeviceApi({ config, key, log, env: options.env });
  const bus = await connectBus(systemBusPath(options.env));
  const owned = await bus.call(
    "org.freedesktop.DBus",
    "/org/freedesktop/DBus",
    "org.freedesktop.DBus",
    "RequestName",
    "su",
    [BUS_NAME, 4], // DBUS_NAME_FLAG_DO_NOT_QUEUE, as Mender asks
  );
  if (owned.body[0] !== 1) {
    bus.close();
    fail("DBUS_FAILED", `${BUS_NAME} is owned by another process on the system bus`);
  }
  let token = "";
  let server = "";
  let fetching = false;
  const fetchToken = async () => {
    fetching = true;
    try {
      api.forgetToken();
      await api.authenticate();
      [token, server] = [api.token() ?? "", api.server() ?? ""];
      log.info("Successfully received new authorization data");
    } catch (error) {
      [token, server] = ["", ""];
      log.error(`Failed to fetch new token: ${(error as Error).message}`);
    }
    fetching = false;
    bus.emit(OBJECT_PATH, INTERFACE, "JwtTokenStateChange", "ss", [token, server]);
  };
  const answer = (call: Message): Reply => {
    const method = `${call.interface ?? ""}.${call.member}`;
    if (call.path !== OBJECT_PATH) {
      return {
        error: { name: "org.freedesktop.DBus.Error.UnknownObject", message: call.path ?? "" },
      };
    }
    if (method === `${INTERFACE}.GetJwtToken`) return { signature: "ss", values: [token, server] };
    if (method === `${INTERFACE}.FetchJwtToken`) {
      if (!fetching) void fetchToken();
      return { signature: "b", values: [true] };
    }
    if (method === "org.freedesktop.DBus.Introspectable.Introspect") {
      return { signature: "s", values: [INTROSPECTION] };
    }
    if (method === "org.freedesktop.DBus.Peer.Ping") return {};
    return {
      error: { name: "org.freedesktop.DBus.Error.UnknownMethod", message: `no method ${method}` },
    };
  };
  bus.serve((call) => Promise.resolve(answer(call)));
  log.info("The authentication daemon is now ready to accept incoming authentication request");
  options.ready?.(bus);
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      log.info("Termination signal received, shutting down gracefully");
      resolve();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  await Promise.race([stopped, bus.closed.then(() => log.error("The system D-Bus went away"))]);
  bus.close();
}
