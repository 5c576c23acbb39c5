/**
 * Inventory: what the inventory scripts print, plus device_type, artifact_name and
 * mender_client_version (which replace any script's values, as in Mender 3.4), sent with PUT;
 * a server that answers 405 (Mender 2.5 era) gets PATCH. 200 is the only success answer.
 */
import { OtaError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { VERSION } from "../version.ts";
import type { DeviceApi } from "./api.ts";
import { type Attributes, attributeValue, goJson, readInventory } from "./identity.ts";

const PATH = "/v1/inventory/device/attributes";

export interface InventoryAttribute {
  name: string;
  value: string | string[];
}

/** The attribute list, sorted by name (Mender 5 sorts; the server does not care). */
export function inventoryAttributes(
  fromScripts: Attributes,
  device: { deviceType: string; artifactName: string },
): InventoryAttribute[] {
  const all = new Map(fromScripts);
  all.set("device_type", [device.deviceType]);
  all.set("artifact_name", [device.artifactName]);
  all.set("mender_client_version", [VERSION]);
  return [...all.keys()].sort().map((name) => ({ name, value: attributeValue(all.get(name)!) }));
}

export async function collectInventory(
  dir: string,
  device: { deviceType: string; artifactName: string },
  log: Logger,
): Promise<InventoryAttribute[]> {
  return inventoryAttributes(await readInventory(dir, log), device);
}

/** Sends the attributes; returns the method that worked. */
export async function sendInventory(
  api: DeviceApi,
  attributes: InventoryAttribute[],
): Promise<"PUT" | "PATCH"> {
  const body = goJson(attributes);
  let method: "PUT" | "PATCH" = "PUT";
  let answer = await api.call(method, PATH, body);
  if (answer.status === 405) {
    method = "PATCH";
    answer = await api.call(method, PATH, body);
  }
  if (answer.status !== 200) {
    throw new OtaError(
      "SERVER_HTTP",
      `sending the inventory (${method}): the server answered ${answer.status}`,
    );
  }
  return method;
}
