/**
 * The oracle's rules take out exactly the listed differences: each one on a sequence shaped
 * like 3.4's, and an unlisted difference (a report in another order, a missing log) stays.
 */
import { assertEquals, assertNotEquals, at } from "../helpers/assert.ts";
import type { Recorded } from "./contract_server.ts";
import { compareable } from "./oracle_rules.ts";

const D = "11111111-aaaa-4bbb-8ccc-000000000001";
let seq = 0;

function req(method: string, path: string, json: unknown, status: number, response = ""): Recorded {
  const text = json === undefined ? "" : JSON.stringify(json);
  return {
    seq: ++seq,
    t: seq,
    method,
    path,
    query: "",
    headers: {},
    text,
    json,
    problems: [],
    bearer: path.includes("auth_requests") ? "tenant" : "device",
    keyType: path.includes("auth_requests") ? "rsa" : undefined,
    signatureValid: path.includes("auth_requests") ? true : undefined,
    status,
    response,
  };
}

const auth = () =>
  req("POST", "/api/devices/v1/authentication/auth_requests", { id_data: "{}", pubkey: "k" }, 200);
const inventory = (name: string) =>
  req("PUT", "/api/devices/v1/inventory/device/attributes", [{
    name: "artifact_name",
    value: name,
  }], 200);
const next = (offer: boolean, controlMap: boolean) =>
  req(
    "POST",
    "/api/devices/v2/deployments/device/deployments/next",
    {
      device_provides: { artifact_name: "a", device_type: "t" },
      ...(controlMap ? { update_control_map: true } : {}),
    },
    offer ? 200 : 204,
    offer ? JSON.stringify({ id: D }) : "",
  );
const status = (s: string, code = 204) =>
  req("PUT", `/api/devices/v1/deployments/device/deployments/${D}/status`, { status: s }, code);
const log = () =>
  req("PUT", `/api/devices/v1/deployments/device/deployments/${D}/log`, { messages: [{}] }, 204);
const download = () => req("GET", `/artifacts/${D}.mender`, undefined, 200);

Deno.test("the listed 3.4 differences are taken out, nothing else", () => {
  const mender = [
    auth(),
    inventory("f"),
    next(true, true),
    status("downloading"),
    download(),
    status("downloading"),
    status("downloading"),
    status("installing"),
    auth(),
    status("installing"),
    status("success"),
    inventory("a"),
    next(false, true),
  ];
  const ota = [
    auth(),
    inventory("f"),
    next(true, false),
    status("downloading"),
    download(),
    status("installing"),
    status("installing"),
    status("success"),
    inventory("a"),
    next(false, false),
  ];
  const seen = compareable(mender, ota);
  assertEquals(seen.ota, seen.mender);
  assertEquals(seen.ota.length, 10);

  const swapped = [...ota.slice(0, 6), at(ota, 7), at(ota, 6), ...ota.slice(8)];
  assertNotEquals(compareable(mender, swapped).ota, compareable(mender, swapped).mender);
  const extraAuth = [...ota.slice(0, 6), auth(), ...ota.slice(6)];
  assertNotEquals(compareable(mender, extraAuth).ota, seen.mender, "ota may not re-authenticate");
});

Deno.test("inventory after an early failure: only ota's extra one goes, and only after such a deployment", () => {
  const mender = [
    next(true, true),
    status("downloading"),
    download(),
    status("downloading"),
    status("failure"),
    log(),
    next(false, true),
  ];
  const ota = [
    next(true, false),
    status("downloading"),
    download(),
    status("failure"),
    log(),
    inventory("a"),
    next(false, false),
  ];
  assertEquals(compareable(mender, ota).ota, compareable(mender, ota).mender);
  const noLog = ota.filter((r) => !r.path.endsWith("/log"));
  assertNotEquals(compareable(mender, noLog).ota, compareable(mender, noLog).mender);
  // after a deployment that reached `installing`, an inventory 3.4 did not send is a difference
  const late = [
    next(true, false),
    status("downloading"),
    download(),
    status("installing"),
    status("failure"),
    log(),
    inventory("a"),
    next(false, false),
  ];
  const lateMender = [
    next(true, true),
    status("downloading"),
    download(),
    status("downloading"),
    status("downloading"),
    status("installing"),
    status("failure"),
    log(),
    next(false, true),
  ];
  assertNotEquals(compareable(lateMender, late).ota, compareable(lateMender, late).mender);
});
