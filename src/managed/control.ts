/**
 * How `ota check-update` and `ota send-inventory` reach a running daemon: a unix socket in
 * the data directory (mode 0600, so only root asks). Mender 3.4 signals the daemon instead
 * (SIGUSR1/SIGUSR2, its pid from systemd); a socket needs no pid lookup, tells the caller
 * that the daemon took the request, and does not collide with runtimes that use SIGUSR1
 * for their debugger. The socket also stops a second daemon on the same data directory.
 */
import { chmod, rm } from "node:fs/promises";
import net from "node:net";
import { fail } from "../errors.ts";

export const controlCommands = ["check-update", "send-inventory"] as const;
export type ControlCommand = typeof controlCommands[number];

/** sockaddr_un holds 108 bytes. */
const MAX_SOCKET_PATH = 107;

export function controlSocketPath(dataDir: string): string {
  return `${dataDir}/ota-daemon.sock`;
}

function checkLength(path: string): void {
  if (path.length > MAX_SOCKET_PATH) {
    fail(
      "CONFIG_INVALID",
      `the control socket ${path} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter --data path`,
    );
  }
}

/** Sends one command to the daemon; resolves when the daemon confirmed it. */
export function sendControl(dataDir: string, command: ControlCommand, timeoutMs = 10_000) {
  const path = controlSocketPath(dataDir);
  checkLength(path);
  return new Promise<void>((resolve, reject) => {
    const socket = net.createConnection(path);
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the daemon did not answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.on("connect", () => socket.write(`${command}\n`));
    socket.on("data", (data) => {
      answer += data.toString();
      if (!answer.includes("\n")) return;
      clearTimeout(timer);
      socket.end();
      if (answer.trim() === "ok") resolve();
      else reject(new Error(`the daemon refused ${command}: ${answer.trim()}`));
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error);
    });
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT" || error.code === "ECONNREFUSED") {
      fail(
        "DAEMON_NOT_RUNNING",
        `no daemon is running on ${dataDir} (no answer on ${path}); start it with 'ota daemon'`,
      );
    }
    fail("DAEMON_NOT_RUNNING", `cannot reach the daemon on ${path}: ${error.message}`);
  });
}

export interface ControlServer {
  close(): Promise<void>;
}

/** Listens for commands; refuses to start when another daemon answers on the socket. */
export async function listenControl(
  dataDir: string,
  onCommand: (command: ControlCommand) => void,
): Promise<ControlServer> {
  const path = controlSocketPath(dataDir);
  checkLength(path);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.createConnection(path);
    probe.on("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.on("error", () => resolve(false));
  });
  if (alive) {
    fail("DAEMON_RUNNING", `a daemon is already running on ${dataDir} (it answers on ${path})`);
  }
  await rm(path, { force: true });
  const server = net.createServer((socket) => {
    let line = "";
    socket.on("error", () => {});
    socket.on("data", (data) => {
      line += data.toString();
      if (!line.includes("\n")) return;
      const command = line.trim() as ControlCommand;
      if (controlCommands.includes(command)) {
        onCommand(command);
        socket.end("ok\n");
      } else {
        socket.end(`unknown command ${JSON.stringify(command.slice(0, 40))}\n`);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        rm(path, { force: true }).catch(() => {});
      }),
  };
}
