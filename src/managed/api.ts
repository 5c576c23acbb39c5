/**
 * The device API client: authentication with the device key, the JWT kept in memory only,
 * and every call under `<server>/api/devices/` with `Authorization: Bearer <JWT>`. A call that
 * gets 401 authenticates once more and is repeated once (both 3.4 and 5.x do so); a device the
 * server has not accepted yet gets 401 to its auth request, which is AUTH_PENDING here.
 */
import { promises as fs } from "node:fs";
import process from "node:process";
import { type Config, serverUrls } from "../device/config.ts";
import { fail, OtaError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { httpFetch } from "../platform.ts";
import { proxyFor } from "../http/proxy.ts";
import { goJson, identityJson, readIdentity } from "./identity.ts";
import type { DeviceKey } from "./key.ts";

export const API_PREFIX = "/api/devices";
const AUTH_PATH = "/v1/authentication/auth_requests";
/** One API exchange may take this long (answers are small; downloads do not come here). */
const CALL_TIMEOUT_MS = 5 * 60_000;

export interface ApiResponse {
  status: number;
  text: string;
}

export interface DeviceApi {
  /** A device API call (`path` after /api/devices); JSON bodies are sent as given. */
  call(method: string, path: string, body?: string): Promise<ApiResponse>;
  /** Asks for a new token now (at start, after a 401). */
  authenticate(): Promise<void>;
  /** Drops the token, so the next call authenticates first. */
  forgetToken(): void;
  /** The server that issued the current token. */
  server(): string | undefined;
  /** The current token (kept in memory only), if any. */
  token(): string | undefined;
  /** The client certificate for mutual TLS, also used for artifact downloads (as 3.4 does). */
  tls: { cert?: string; key?: string };
}

export interface ApiOptions {
  config: Config;
  key: DeviceKey;
  log: Logger;
  env?: Record<string, string | undefined>;
  callTimeoutMs?: number;
}

async function readPem(path: string | undefined, what: string): Promise<string | undefined> {
  if (!path) return undefined;
  return await fs.readFile(path, "utf8").catch(() => {
    fail("CONFIG_INVALID", `cannot read ${what} ${path}; fix the path in the configuration`);
  });
}

/** The auth request body exactly as Mender 3.4 encodes it (Go's encoder: these keys in this order, then a newline). */
export function authRequestBody(idData: string, tenantToken: string, pubkey: string): string {
  return `{"id_data":${goJson(idData)},"tenant_token":${goJson(tenantToken)},"pubkey":${
    goJson(pubkey)
  }}\n`;
}

function describe(error: unknown): string {
  const e = error as Error & { cause?: Error };
  return e.cause?.message ? `${e.message} (${e.cause.message})` : e.message;
}

export async function createDeviceApi(options: ApiOptions): Promise<DeviceApi> {
  const { config, key, log } = options;
  const servers = serverUrls(config);
  if (!servers.length) {
    fail(
      "CONFIG_INVALID",
      "no server configured: set ServerURL (or Servers) in mender.conf to run the daemon",
    );
  }
  const tls = {
    ca: await readPem(config.ServerCertificate, "ServerCertificate"),
    cert: await readPem(config.HttpsClient?.Certificate, "HttpsClient.Certificate"),
    key: await readPem(config.HttpsClient?.Key, "HttpsClient.Key"),
    insecure: config.SkipVerify,
  };
  if (Boolean(tls.cert) !== Boolean(tls.key)) {
    fail("CONFIG_INVALID", "HttpsClient needs both Certificate and Key for mutual TLS");
  }
  const env = options.env ?? process.env;
  const fetchers = new Map<string, typeof fetch>();
  const fetcherFor = (url: string) => {
    const proxy = proxyFor(url, env);
    const id = proxy ?? "";
    if (!fetchers.has(id)) {
      try {
        fetchers.set(id, httpFetch({ ...tls, proxy }));
      } catch (error) {
        fail("CONFIG_INVALID", (error as Error).message);
      }
    }
    return fetchers.get(id)!;
  };
  const timeout = options.callTimeoutMs ?? CALL_TIMEOUT_MS;
  const send = async (url: string, init: RequestInit): Promise<ApiResponse> => {
    let response: Response;
    try {
      response = await fetcherFor(url)(url, { ...init, signal: AbortSignal.timeout(timeout) });
      return { status: response.status, text: await response.text() };
    } catch (error) {
      throw new OtaError("SERVER_NETWORK", `cannot reach ${url}: ${describe(error)}`);
    }
  };

  let token: string | undefined;
  let current: string | undefined;

  const authenticate = async () => {
    token = undefined;
    const idData = identityJson(await readIdentity(config.IdentityScript, log));
    const body = authRequestBody(idData, config.TenantToken.trim(), key.publicPem);
    const bytes = new TextEncoder().encode(body);
    const headers = {
      "content-type": "application/json",
      authorization: `Bearer ${config.TenantToken.trim()}`,
      "x-men-signature": key.sign(bytes),
    };
    let last: OtaError | undefined;
    let pending = false;
    for (const server of servers) {
      try {
        const answer = await send(`${server}${API_PREFIX}${AUTH_PATH}`, {
          method: "POST",
          headers,
          body: bytes,
        });
        if (answer.status === 200 && answer.text.trim()) {
          token = answer.text.trim();
          current = server;
          log.info(`Authenticated with ${server}`);
          return;
        }
        pending ||= answer.status === 401;
        last = new OtaError(
          answer.status === 401 ? "AUTH_PENDING" : "AUTH_FAILED",
          `${server} answered ${answer.status} to the authentication request${
            answer.status === 401 ? " (the device is not accepted yet, or was rejected)" : ""
          }`,
        );
      } catch (error) {
        last = error as OtaError;
      }
    }
    if (pending) {
      throw new OtaError(
        "AUTH_PENDING",
        "the server has not accepted this device (yet); accept it in the server's device list",
      );
    }
    throw last!;
  };

  const call = async (method: string, path: string, body?: string): Promise<ApiResponse> => {
    for (let attempt = 0;; attempt++) {
      if (!token) await authenticate();
      const answer = await send(`${current}${API_PREFIX}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
        },
        body,
      });
      if (answer.status !== 401 || attempt > 0) return answer;
      log.info(`The server answered 401 to ${method} ${path}; authenticating again`);
      token = undefined;
    }
  };

  return {
    call,
    authenticate,
    forgetToken: () => {
      token = undefined;
    },
    server: () => current,
    token: () => token,
    tls: { cert: tls.cert, key: tls.key },
  };
}
