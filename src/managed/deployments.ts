/**
 * The deployments API as the device uses it: asking for the next deployment (v2 POST, then
 * v1 POST, then v1 GET, as Mender 3.4 asks an open-source server, which has no v2), status
 * reports (204 fine, 409 aborted on the server) and the log of a failed deployment.
 */
import { OtaError } from "../errors.ts";
import type { ApiResponse, DeviceApi } from "./api.ts";
import { goJson } from "./identity.ts";

export interface Instructions {
  id: string;
  artifactName: string;
  uri: string;
  deviceTypes: string[];
}

export type NextDeployment =
  | { kind: "none" }
  | { kind: "deployment"; instructions: Instructions }
  /** The server offered something unusable; with an id it can still be failed. */
  | { kind: "invalid"; id?: string; reason: string };

export interface DeviceState {
  artifactName: string;
  deviceType: string;
  /** Everything else the device provides (artifact_name and device_type are added). */
  provides: Record<string, string>;
}

export const deploymentStatuses = [
  "downloading",
  "installing",
  "rebooting",
  "success",
  "failure",
  "already-installed",
] as const;
export type DeploymentStatus = typeof deploymentStatuses[number];

/** Go's url.QueryEscape: only letters, digits and `-_.~` stay, a space is `+`. */
function queryEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

function sortedProvides(device: DeviceState): Record<string, string> {
  const all: Record<string, string> = {
    ...device.provides,
    artifact_name: device.artifactName,
    device_type: device.deviceType,
  };
  return Object.fromEntries(Object.entries(all).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function unexpected(what: string, answer: ApiResponse): OtaError {
  let detail = "";
  try {
    const error = JSON.parse(answer.text)?.error;
    if (typeof error === "string") detail = `: ${error}`;
  } catch {
    // not JSON: the status says enough
  }
  return new OtaError("SERVER_HTTP", `${what}: the server answered ${answer.status}${detail}`);
}

/** Checks the instructions as 3.4 does: id, artifact name, URI and device types must be there. */
export function parseInstructions(text: string): NextDeployment {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text);
    if (typeof value !== "object" || value === null) throw new Error("not an object");
  } catch (error) {
    return { kind: "invalid", reason: `the answer is not JSON (${(error as Error).message})` };
  }
  const id = typeof value.id === "string" && value.id ? value.id : undefined;
  const artifact = (value.artifact ?? {}) as Record<string, unknown>;
  const source = (artifact.source ?? {}) as Record<string, unknown>;
  const types = artifact.device_types_compatible;
  const missing = [
    !id && "id",
    !(typeof artifact.artifact_name === "string" && artifact.artifact_name) &&
    "artifact.artifact_name",
    !(typeof source.uri === "string" && source.uri) && "artifact.source.uri",
    !(Array.isArray(types) && types.length && types.every((t) => typeof t === "string")) &&
    "artifact.device_types_compatible",
  ].filter(Boolean);
  if (missing.length) {
    return { kind: "invalid", id, reason: `the deployment lacks ${missing.join(", ")}` };
  }
  return {
    kind: "deployment",
    instructions: {
      id: id!,
      artifactName: artifact.artifact_name as string,
      uri: source.uri as string,
      deviceTypes: types as string[],
    },
  };
}

/** Asks for the next deployment; a 404 moves on to the older endpoint, as 3.4 does on every poll. */
export async function nextDeployment(api: DeviceApi, device: DeviceState): Promise<NextDeployment> {
  const provides = sortedProvides(device);
  const query = `artifact_name=${queryEscape(device.artifactName)}&device_type=${
    queryEscape(device.deviceType)
  }`;
  const attempts: [string, string, string | undefined][] = [
    ["POST", "/v2/deployments/device/deployments/next", goJson({ device_provides: provides })],
    ["POST", "/v1/deployments/device/deployments/next", goJson(provides)],
    ["GET", `/v1/deployments/device/deployments/next?${query}`, undefined],
  ];
  let last: ApiResponse | undefined;
  for (const [method, path, body] of attempts) {
    last = await api.call(method, path, body);
    if (last.status === 204) return { kind: "none" };
    if (last.status === 200) return parseInstructions(last.text);
    if (last.status !== 404) break;
  }
  throw unexpected("asking for the next deployment", last!);
}

export type ReportResult = "ok" | "aborted";

/** Reports a status: "ok" on 204, "aborted" on 409 (the deployment was aborted on the server). */
export async function reportStatus(
  api: DeviceApi,
  id: string,
  status: DeploymentStatus,
  substate?: string,
): Promise<ReportResult> {
  const body = goJson(substate ? { status, substate } : { status });
  const answer = await api.call(
    "PUT",
    `/v1/deployments/device/deployments/${encodeURIComponent(id)}/status`,
    body,
  );
  if (answer.status === 204) return "ok";
  if (answer.status === 409) return "aborted";
  throw unexpected(`reporting ${status} for deployment ${id}`, answer);
}

export interface LogMessage {
  level: string;
  message: string;
  timestamp: string;
}

/** Uploads the deployment log in Mender's JSON (`{"messages":[{level,message,timestamp}]}`). */
export async function uploadLog(api: DeviceApi, id: string, messages: LogMessage[]): Promise<void> {
  const answer = await api.call(
    "PUT",
    `/v1/deployments/device/deployments/${encodeURIComponent(id)}/log`,
    goJson({ messages }),
  );
  if (answer.status !== 204) throw unexpected(`uploading the log of deployment ${id}`, answer);
}
