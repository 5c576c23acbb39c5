/**
 * How the oracle compares two request sequences: each request is reduced to what the server
 * acts on (endpoint, bearer kind, body with ids, times, tokens and the client's version
 * normalised, the answer), then the differences listed in README.md, and only those, are
 * taken out. Each rule names the README entry it implements.
 */
import type { Recorded } from "./contract_server.ts";

export interface Entry {
  kind: "auth" | "inventory" | "next" | "status" | "log" | "artifact" | "other";
  deployment?: string;
  /** The status a status report carries. */
  reported?: string;
  response: number;
  line: string;
}

const API = "/api/devices";

function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(",")}]`;
  if (value && typeof value === "object") {
    const object = value as Record<string, unknown>;
    return `{${
      Object.keys(object).sort().map((k) => `${JSON.stringify(k)}:${sortedJson(object[k])}`).join(
        ",",
      )
    }}`;
  }
  return JSON.stringify(value);
}

/** Reduces the recorded requests to comparable entries; deployment ids become D1, D2, ... */
export function normalise(requests: Recorded[]): Entry[] {
  const ids = new Map<string, string>();
  const idOf = (id: string) => {
    if (!ids.has(id)) ids.set(id, `D${ids.size + 1}`);
    return ids.get(id)!;
  };
  return requests.map((r): Entry => {
    const json = r.json as Record<string, unknown> | undefined;
    if (r.path === `${API}/v1/authentication/auth_requests`) {
      const tenant = json?.tenant_token ? "<tenant>" : "";
      return {
        kind: "auth",
        response: r.status,
        line: `POST auth bearer=${r.bearer} sig=${r.keyType}:${r.signatureValid} id_data=${
          String(json?.id_data)
        } tenant_token=${tenant} -> ${r.status}`,
      };
    }
    if (r.path === `${API}/v1/inventory/device/attributes`) {
      const attributes = (Array.isArray(r.json) ? r.json : []) as {
        name: string;
        value: unknown;
      }[];
      const shown = attributes
        .map((a) =>
          `${a.name}=${a.name === "mender_client_version" ? "<version>" : sortedJson(a.value)}`
        )
        .sort();
      return {
        kind: "inventory",
        response: r.status,
        line: `${r.method} inventory bearer=${r.bearer} [${shown.join(", ")}] -> ${r.status}`,
      };
    }
    if (r.path.endsWith("/deployments/device/deployments/next")) {
      const offered = r.status === 200 ? ` ${idOf(JSON.parse(r.response).id)}` : "";
      return {
        kind: "next",
        response: r.status,
        line: `${r.method} ${
          r.path.slice(API.length + 1, API.length + 3)
        } next bearer=${r.bearer} ${
          r.method === "GET" ? r.query : sortedJson(json)
        } -> ${r.status}${offered}`,
      };
    }
    const report = /\/deployments\/device\/deployments\/([^/]+)\/(status|log)$/.exec(r.path);
    if (report) {
      const deployment = idOf(decodeURIComponent(report[1] ?? ""));
      if (report[2] === "log") {
        const messages = (json?.messages as unknown[] | undefined)?.length ?? 0;
        return {
          kind: "log",
          deployment,
          response: r.status,
          line: `PUT log ${deployment} bearer=${r.bearer} ${
            messages > 0 ? "messages" : "empty"
          } -> ${r.status}`,
        };
      }
      return {
        kind: "status",
        deployment,
        reported: String(json?.status),
        response: r.status,
        line: `PUT status ${deployment} bearer=${r.bearer} ${sortedJson(json)} -> ${r.status}`,
      };
    }
    const artifact = /^\/artifacts\/(.+)\.mender$/.exec(r.path)?.[1];
    if (artifact) {
      return {
        kind: "artifact",
        deployment: idOf(artifact),
        response: r.status,
        line: `GET artifact ${idOf(artifact)} bearer=${r.bearer}${
          r.headers.range ? ` range=${r.headers.range}` : ""
        } -> ${r.status}`,
      };
    }
    return { kind: "other", response: r.status, line: `${r.method} ${r.path} -> ${r.status}` };
  });
}

/** README "no script substates": 3.4's reports of state scripts starting and finishing go. */
export function dropScriptSubstates(entries: Entry[]): Entry[] {
  return entries.filter((e) => !(e.kind === "status" && e.line.includes('"substate":')));
}

/** README "downloading once": 3.4's second and third `downloading` of a deployment go. */
export function dropRepeatedDownloading(entries: Entry[]): Entry[] {
  const seen = new Set<string>();
  return entries.filter((e) => {
    if (e.kind !== "status" || e.reported !== "downloading") return true;
    if (seen.has(e.deployment!)) return false;
    seen.add(e.deployment!);
    return true;
  });
}

/** README "no re-authentication before the commit": 3.4's auth request between two `installing` reports goes. */
export function dropCommitReauth(entries: Entry[]): Entry[] {
  return entries.filter((e, i) => {
    if (e.kind !== "auth") return true;
    const before = entries[i - 1];
    const after = entries[i + 1];
    const installing = (x?: Entry) => x?.kind === "status" && x.reported === "installing";
    return !(installing(before) && before!.response === 204 && installing(after) &&
      before!.deployment === after!.deployment);
  });
}

/** README "no control-map claim": 3.4's v2 body says update_control_map: true; ota has no control maps. */
export function dropControlMapFlag(entries: Entry[]): Entry[] {
  return entries.map((e) =>
    e.kind === "next" ? { ...e, line: e.line.replace(',"update_control_map":true', "") } : e
  );
}

/**
 * README "inventory after every deployment": ota (as Mender 5) sends the inventory after any
 * deployment; 3.4 only after one that reached its Cleanup. The inventory ota sends right after
 * a deployment that never reported `installing` goes from ota's sequence.
 */
export function dropInventoryAfterEarlyFailure(entries: Entry[]): Entry[] {
  const installing = new Set(
    entries.filter((e) => e.kind === "status" && e.reported === "installing").map((e) =>
      e.deployment
    ),
  );
  return entries.filter((e, i) => {
    if (e.kind !== "inventory") return true;
    const last = entries[i - 1];
    if (!last || (last.kind !== "status" && last.kind !== "log") || !last.deployment) return true;
    const final = last.kind === "log" || ["failure", "success"].includes(last.reported ?? "");
    return !(final && !installing.has(last.deployment));
  });
}

/** Everything up to the first poll answered 204 after the last final report. */
export function untilSettled(requests: Recorded[]): Recorded[] {
  const final = (r: Recorded) =>
    r.path.endsWith("/status") && ["success", "failure", "already-installed"].includes(
      (r.json as { status?: string })?.status ?? "",
    );
  const lastFinal = requests.findLastIndex(final);
  const end = requests.findIndex((r, i) =>
    i > lastFinal && r.path.endsWith("/next") && r.status === 204
  );
  return end < 0 ? requests : requests.slice(0, end + 1);
}

/** Both sequences through the rules: what 3.4 sent, made into what ota must send. */
export function compareable(
  mender: Recorded[],
  ota: Recorded[],
): { mender: string[]; ota: string[] } {
  const fromMender = dropControlMapFlag(
    dropCommitReauth(dropRepeatedDownloading(dropScriptSubstates(normalise(untilSettled(mender))))),
  );
  const fromOta = dropInventoryAfterEarlyFailure(normalise(untilSettled(ota)));
  return { mender: fromMender.map((e) => e.line), ota: fromOta.map((e) => e.line) };
}

/** A readable report of where two sequences part. */
export function describeDifference(mender: string[], ota: string[]): string {
  const width = Math.max(mender.length, ota.length);
  const lines: string[] = [];
  for (let i = 0; i < width; i++) {
    const mark = mender[i] === ota[i] ? "  " : "!!";
    lines.push(
      `${mark} ${i + 1}\n   3.4: ${mender[i] ?? "(nothing)"}\n   ota: ${ota[i] ?? "(nothing)"}`,
    );
  }
  return lines.join("\n");
}
