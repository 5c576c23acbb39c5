/**
 * A Mender server of the tests' own, for the device API only, written from the OpenAPI files:
 * authentication (signature, tenant token, pending devices), next deployment (v2, v1 POST,
 * v1 GET), status reports, logs, inventory (PUT/PATCH) and artifact downloads (Range). It
 * checks every request (contract_checks.ts), records it, and has switches for the faults a
 * device must survive: pending, forced 401, no v2 (open-source server), inventory 405, 409
 * aborts, 5xx bursts, cut downloads and slow answers.
 */
import { Buffer } from "node:buffer";
import { createHash, randomUUID, X509Certificate } from "node:crypto";
import http from "node:http";
import https from "node:https";
import {
  attributesSchema,
  authRequestSchema,
  checkSignature,
  type KeyType,
  logSchema,
  nextV1PostSchema,
  nextV2Schema,
  problemOf,
  statusSchema,
} from "./contract_checks.ts";
import { readRequest, serveArtifact } from "./contract_http.ts";

export interface DeploymentSpec {
  id: string;
  artifactName: string;
  deviceTypes: string[];
  /** The .mender file served for it. */
  file: string;
  /** Answer this many polls with 204 before offering it. */
  offerAfterPolls?: number;
  /** 409 from the first report with this status on, or from the n-th report (1-based) on. */
  abort?: { fromStatus?: string; fromReport?: number };
  /** Fields of the offered `artifact` left out (a broken server or deployment). */
  omit?: string[];
}

export interface Switches {
  /** The first n auth requests get 401 (a device not accepted yet). */
  pendingAuths?: number;
  /** When set, the auth request must carry this tenant token. */
  tenantToken?: string;
  /** One 401 (and every token revoked) for the first request matching each rule. */
  force401?: { method?: string; path: RegExp; status?: string }[];
  /** An open-source server: no v2 next, no v1 POST next. */
  noV2?: boolean;
  inventory405?: boolean;
  /**
   * 5xx for API requests matching `path` (default: all) and, for status reports, carrying
   * `reported`: `count` of them, or all until `untilMs` (server time).
   */
  fail5xx?: { path?: RegExp; reported?: string; count?: number; untilMs?: number; status?: number };
  /** Artifact downloads break after this many body bytes, the first `times` times. */
  cutDownload?: { afterBytes: number; times: number };
  /** Artifact downloads send this many body bytes, then nothing more. */
  stallDownload?: { afterBytes: number };
  /** Answers to requests matching `path` wait this long. */
  slow?: { ms: number; path?: RegExp };
  /** Mutual TLS: requests without a client certificate signed by the CA get 403. */
  requireClientCert?: boolean;
}

export interface Recorded {
  seq: number;
  /** Milliseconds since the server started. */
  t: number;
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  text: string;
  json?: unknown;
  /** What the contract found wrong; empty when the request was valid. */
  problems: string[];
  keyType?: KeyType;
  signatureValid?: boolean;
  /** Which bearer the request carried: a device token, the tenant token, or none. */
  bearer: "device" | "tenant" | "revoked" | "none" | "other";
  clientCert?: { cn?: string; valid: boolean };
  status: number;
  response: string;
}

export interface ContractServer extends AsyncDisposable {
  url: string;
  port: number;
  requests: Recorded[];
  switches: Switches;
  deployments: DeploymentSpec[];
  /** Reports received per deployment id. */
  reports(id: string): string[];
  waitFor(done: (requests: Recorded[]) => boolean, timeoutMs: number, what?: string): Promise<void>;
}

export interface ServerOptions {
  deployments?: DeploymentSpec[];
  switches?: Switches;
  tls?: { cert: string; key: string; ca?: string };
  /** The server's address as the device sees it (an emulated board behind a forward). */
  publicUrl?: string;
}

const API = "/api/devices";
const FINAL = ["success", "failure", "already-installed"];

function fakeJwt(device: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const claims = { jti: randomUUID(), sub: device, iss: "Mender", "mender.device": true };
  return `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}.${
    createHash("sha256").update(randomUUID()).digest("base64url")
  }`;
}

export async function contractServer(options: ServerOptions = {}): Promise<ContractServer> {
  const started = Date.now();
  const requests: Recorded[] = [];
  const switches: Switches = { ...options.switches };
  const deployments = [...(options.deployments ?? [])];
  const reports = new Map<string, string[]>();
  const tokens = new Set<string>();
  const revoked = new Set<string>();
  let auths = 0;
  let polls = 0;
  let cuts = 0;
  let failed5xx = 0;
  const ca = options.tls?.ca ? new X509Certificate(options.tls.ca) : undefined;
  let url = "";
  let closed = false;

  const finished = (id: string) => (reports.get(id) ?? []).some((s) => FINAL.includes(s));

  function offer(): string | undefined {
    polls++;
    const pending = deployments.find((d) => !finished(d.id));
    if (!pending || polls <= (pending.offerAfterPolls ?? 0)) return undefined;
    return JSON.stringify({
      id: pending.id,
      artifact: {
        id: createHash("md5").update(pending.id).digest("hex"),
        artifact_name: pending.artifactName,
        source: {
          uri: `${options.publicUrl ?? url}/artifacts/${pending.id}.mender`,
          expire: new Date(Date.now() + 86_400_000).toISOString(),
        },
        device_types_compatible: pending.deviceTypes,
      },
    }, (key, value) => (pending.omit?.includes(key) ? undefined : value));
  }

  type Answer = { status: number; body?: string; type?: string };
  const error = (status: number, message: string): Answer => ({
    status,
    body: JSON.stringify({ error: message, request_id: randomUUID() }),
    type: "application/json",
  });

  function route(r: Recorded, raw: Buffer): Answer {
    const invalid = () => error(400, r.problems[0] ?? "invalid request");
    const validate = (result: { success: boolean; error?: unknown }) => {
      // deno-lint-ignore no-explicit-any
      const problem = problemOf(result as any);
      if (problem) r.problems.push(problem);
      return !problem;
    };
    const fault = switches.fail5xx;
    const carries = (r.json as { status?: string } | undefined)?.status;
    if (
      fault && r.path.startsWith(`${API}/`) && (!fault.path || fault.path.test(r.path)) &&
      (!fault.reported || fault.reported === carries)
    ) {
      const byCount = fault.count !== undefined && failed5xx < fault.count;
      const byTime = fault.untilMs !== undefined && r.t < fault.untilMs;
      if (byCount || byTime) {
        failed5xx++;
        return error(fault.status ?? 500, "internal error (forced by the test)");
      }
    }
    if (r.path === `${API}/v1/authentication/auth_requests` && r.method === "POST") {
      if (!validate(authRequestSchema.safeParse(r.json))) return invalid();
      const body = r.json as { id_data: string; pubkey: string; tenant_token?: string };
      try {
        JSON.parse(body.id_data);
      } catch {
        r.problems.push("id_data is not JSON");
        return error(400, "id_data is not JSON");
      }
      const signature = r.headers["x-men-signature"];
      if (!signature) {
        r.problems.push("no X-MEN-Signature");
        return error(400, "missing request signature header");
      }
      const check = checkSignature(raw, body.pubkey, signature);
      r.keyType = check.keyType;
      r.signatureValid = check.valid;
      if (check.problem) r.problems.push(check.problem);
      if (!check.valid) return error(401, "signature verification failed");
      if (switches.tenantToken !== undefined && body.tenant_token !== switches.tenantToken) {
        return error(401, "tenant token verification failed");
      }
      if (++auths <= (switches.pendingAuths ?? 0)) return error(401, "unauthorized");
      const token = fakeJwt(createHash("sha256").update(body.pubkey).digest("hex").slice(0, 24));
      tokens.add(token);
      return { status: 200, body: token, type: "application/jwt" };
    }
    if (!r.path.startsWith(`${API}/`)) return error(404, "not found");
    if (r.bearer !== "device") return error(401, "unauthorized");
    const rule = switches.force401?.find((rule) =>
      (!rule.method || rule.method === r.method) && rule.path.test(r.path) &&
      (!rule.status || (r.json as { status?: string })?.status === rule.status)
    );
    if (rule) {
      switches.force401 = switches.force401!.filter((other) => other !== rule);
      for (const token of tokens) revoked.add(token);
      tokens.clear();
      return error(401, "token expired (forced by the test)");
    }
    const next = "/deployments/device/deployments/next";
    if (r.path === `${API}/v2${next}` && r.method === "POST") {
      if (switches.noV2) return error(404, "not found");
      if (!validate(nextV2Schema.safeParse(r.json))) return invalid();
      const body = offer();
      return body ? { status: 200, body, type: "application/json" } : { status: 204 };
    }
    if (r.path === `${API}/v1${next}` && r.method === "POST") {
      if (switches.noV2) return error(404, "not found");
      if (!validate(nextV1PostSchema.safeParse(r.json))) return invalid();
      const body = offer();
      return body ? { status: 200, body, type: "application/json" } : { status: 204 };
    }
    if (r.path === `${API}/v1${next}` && r.method === "GET") {
      const query = new URLSearchParams(r.query);
      if (!query.get("artifact_name") || !query.get("device_type")) {
        r.problems.push("artifact_name and device_type are required query parameters");
        return error(400, r.problems.at(-1)!);
      }
      const body = offer();
      return body ? { status: 200, body, type: "application/json" } : { status: 204 };
    }
    const deployment =
      /^\/api\/devices\/v1\/deployments\/device\/deployments\/([^/]+)\/(status|log)$/
        .exec(r.path);
    if (deployment && r.method === "PUT") {
      const spec = deployments.find((d) => d.id === decodeURIComponent(deployment[1] ?? ""));
      if (!spec) return error(404, "deployment not found");
      if (deployment[2] === "log") {
        if (!validate(logSchema.safeParse(r.json))) return invalid();
        return { status: 204 };
      }
      if (!validate(statusSchema.safeParse(r.json))) return invalid();
      const status = (r.json as { status: string }).status;
      const list = reports.get(spec.id) ?? [];
      list.push(status);
      reports.set(spec.id, list);
      const abort = spec.abort;
      const abortedNow = abort && (
        (abort.fromReport !== undefined && list.length >= abort.fromReport) ||
        (abort.fromStatus !== undefined && list.includes(abort.fromStatus))
      );
      return abortedNow ? error(409, "deployment aborted") : { status: 204 };
    }
    if (r.path === `${API}/v1/inventory/device/attributes`) {
      if (r.method !== "PUT" && r.method !== "PATCH") return error(405, "method not allowed");
      if (r.method === "PUT" && switches.inventory405) return error(405, "method not allowed");
      if (!validate(attributesSchema.safeParse(r.json))) return invalid();
      return { status: 200 };
    }
    return error(404, "not found");
  }

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const { record: r, raw } = await readRequest(req, {
      seq: requests.length + 1,
      t: Date.now() - started,
      bearerOf: (value, tenant) =>
        value === undefined
          ? "none"
          : tokens.has(value)
          ? "device"
          : revoked.has(value)
          ? "revoked"
          : value === (tenant ?? switches.tenantToken)
          ? "tenant"
          : "other",
      ca,
    });
    requests.push(r);
    if (switches.slow && (!switches.slow.path || switches.slow.path.test(r.path))) {
      await new Promise((resolve) => setTimeout(resolve, switches.slow!.ms));
      if (closed) return void res.destroy();
    }
    if (switches.requireClientCert && !r.clientCert?.valid) {
      r.status = 403;
      res.writeHead(403).end();
      return;
    }
    if (r.path.startsWith("/artifacts/") && r.method === "GET") {
      const spec = deployments.find((d) => r.path === `/artifacts/${d.id}.mender`);
      const cut = switches.cutDownload && cuts < switches.cutDownload.times
        ? switches.cutDownload.afterBytes
        : undefined;
      if (serveArtifact(spec?.file, r, res, cut, switches.stallDownload?.afterBytes)) cuts++;
      return;
    }
    const answer = route(r, raw);
    r.status = answer.status;
    r.response = answer.body ?? "";
    res.writeHead(answer.status, answer.type ? { "content-type": answer.type } : {});
    res.end(answer.body ?? "");
  };

  const server = options.tls
    ? https.createServer({
      cert: options.tls.cert,
      key: options.tls.key,
      ...(options.tls.ca ? { ca: options.tls.ca, requestCert: true } : {}),
      rejectUnauthorized: false,
    }, handler)
    : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  url = `${options.tls ? "https" : "http"}://127.0.0.1:${port}`;

  return {
    url,
    port,
    requests,
    switches,
    deployments,
    reports: (id) => reports.get(id) ?? [],
    async waitFor(done, timeoutMs, what = "the expected requests") {
      const until = Date.now() + timeoutMs;
      while (!done(requests)) {
        if (Date.now() > until) {
          throw new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; the server saw:\n${
              requests.map((r) =>
                `${r.seq} ${r.method} ${r.path} ${r.text.slice(0, 80)} -> ${r.status}`
              )
                .join("\n")
            }`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async [Symbol.asyncDispose]() {
      closed = true;
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
