/** Choosing among peers' offers, the order of peer URLs, DNS-SD records, safe file names. */
import { assert, assertEquals, assertMatch, at } from "../helpers/assert.ts";
import { chooseOffer, collectOffers } from "../../src/peers/choose.ts";
import { collectServices, type Discovered, serviceRecords } from "../../src/peers/dns_sd.ts";
import { peerSources } from "../../src/peers/sources.ts";
import { safeFileName } from "../../src/peers/fetch.ts";
import type { Peer } from "../../src/peers/listings.ts";
import type { ListedFile } from "../../src/server/listing.ts";
import { isOtaError } from "../../src/errors.ts";

function listed(
  name: string,
  sha: string,
  extra: Partial<ListedFile["artifact"]> = {},
): ListedFile {
  return {
    file: `${name}.mender`,
    url: `/artifacts/${name}.mender`,
    size: 1000,
    modified: "2026-01-01T00:00:00.000Z",
    sha256: sha.repeat(64).slice(0, 64),
    valid: true,
    artifact: {
      name,
      group: null,
      deviceTypes: ["board-a"],
      provides: { artifact_name: name },
      depends: {},
      clearsProvides: [],
      payloadTypes: ["rootfs-image"],
      signed: false,
      signatureVerified: false,
      compression: "gzip",
      ...extra,
    },
  };
}

function peer(base: string, artifacts: ListedFile[]): Peer {
  return {
    name: base,
    base,
    listing: { server: { name: base, version: "1" }, pending: 0, artifacts },
  };
}

const device = { deviceType: "board-a", provides: { artifact_name: "release-1" } };

Deno.test("offers are grouped by content, and fit is judged like install", () => {
  const peers = [
    peer("http://10.0.0.1:8080", [
      listed("release-2", "a"),
      listed("other", "b", { deviceTypes: ["board-b"] }),
      listed("needs-3", "c", { depends: { artifact_name: ["release-3"] } }),
      { ...listed("broken", "d"), valid: false, artifact: undefined },
    ]),
    peer("http://10.0.0.2:8080", [listed("release-2", "a")]),
  ];
  const offers = collectOffers(peers, device);
  assertEquals(offers.map((o) => o.artifact.name), ["needs-3", "other", "release-2"]);
  const release2 = offers.find((o) => o.artifact.name === "release-2")!;
  assertEquals(release2.urls, [
    "http://10.0.0.1:8080/artifacts/release-2.mender",
    "http://10.0.0.2:8080/artifacts/release-2.mender",
  ]);
  assertEquals(release2.reasons, []);
  assertMatch(at(offers.find((o) => o.artifact.name === "other")!.reasons, 0), /board-b/);
  assertMatch(at(offers.find((o) => o.artifact.name === "needs-3")!.reasons, 0), /release-3/);
  assertEquals(chooseOffer(offers, device).artifact.name, "release-2");
  assertEquals(chooseOffer(offers, device, "release-2.mender").sha256, release2.sha256);
});

Deno.test("choosing refuses what does not fit, and asks when several do", () => {
  const offers = collectOffers([
    peer("http://p1:1", [
      listed("release-2", "a"),
      listed("release-3", "b"),
      listed("release-1", "c"),
    ]),
  ], device);
  const ambiguous = (() => {
    try {
      chooseOffer(offers, device);
    } catch (error) {
      return error;
    }
  })();
  assert(isOtaError(ambiguous, "PEER_AMBIGUOUS"));
  assertMatch((ambiguous as Error).message, /release-2, release-3/);
  try {
    chooseOffer(
      collectOffers([peer("http://p1:1", [listed("x", "a", { deviceTypes: ["z"] })])], device),
      device,
    );
    throw new Error("expected a refusal");
  } catch (error) {
    assert(isOtaError(error, "PEER_NO_ARTIFACT"), String(error));
  }
});

Deno.test("peer order: failures move on and come back, a corrupt peer is gone", () => {
  const sources = peerSources(["u1", "u2", "u3"], { random: () => 0.999, triesPerPeer: 2 });
  assertEquals(sources.remaining(), ["u1", "u2", "u3"]);
  assertEquals(sources.current(), "u1");
  sources.failed("u1", "reset");
  assertEquals(sources.current(), "u2");
  sources.corrupt("u2", "wrong bytes");
  assertEquals(sources.remaining(), ["u1", "u3"]);
  sources.failed("u3", "reset");
  assertEquals(sources.current(), "u1");
  sources.failed("u1", "reset");
  assertEquals(sources.remaining(), ["u3"]);
  sources.failed("u3", "reset");
  assertEquals(sources.current(), undefined);
  assertEquals(sources.history().length, 5);
});

Deno.test("DNS-SD records round-trip into a discovered server", () => {
  const records = serviceRecords({
    instance: "ota on laptop 8080",
    host: "laptop.local",
    port: 8080,
    addresses: ["10.1.0.1"],
    txt: { path: "/artifacts", tls: "0", auth: "1" },
  });
  const found = new Map<string, Discovered>();
  collectServices(found, [...records.answers, ...records.additionals], "10.9.9.9");
  const server = at([...found.values()], 0, "the services found");
  assertEquals(server.instance, "ota on laptop 8080");
  assertEquals(server.port, 8080);
  assertEquals(server.addresses, ["10.1.0.1"]);
  assertEquals(server.txt.auth, "1");
  // Without address records the sender's address is used; a goodbye removes the server.
  const bare = serviceRecords({ instance: "b", host: "b.local", port: 1, addresses: [], txt: {} });
  collectServices(found, [...bare.answers, ...bare.additionals], "10.2.2.2");
  assertEquals(found.get("b._ota._tcp.local")?.addresses, ["10.2.2.2"]);
  const bye = serviceRecords(
    { instance: "b", host: "b.local", port: 1, addresses: [], txt: {} },
    0,
  );
  collectServices(found, [...bye.answers], "10.2.2.2");
  assertEquals(found.has("b._ota._tcp.local"), false);
});

Deno.test("file names from a peer are one plain segment", () => {
  assertEquals(safeFileName("release-2.mender"), "release-2.mender");
  assertEquals(safeFileName("release-2"), "release-2.mender");
  for (const bad of ["../x.mender", ".hidden.mender", "a/b.mender", "a\u0000.mender", "", ".."]) {
    try {
      safeFileName(bad);
      throw new Error(`accepted ${JSON.stringify(bad)}`);
    } catch (error) {
      assert(isOtaError(error, "PEER_BAD_NAME"), String(error));
    }
  }
});

Deno.test("busy peers are skipped without penalty; peers found later are tried next", () => {
  const sources = peerSources(["seed"], { random: () => 0.999, triesPerPeer: 1 });
  for (let i = 0; i < 5; i++) sources.busy("seed");
  assertEquals(sources.remaining(), ["seed"]);
  sources.add(["device-1", "seed", "device-2"]);
  assertEquals(sources.remaining(), ["seed", "device-1", "device-2"]);
  assertEquals(sources.current(), "device-1");
  sources.failed("device-1", "reset");
  assertEquals(sources.remaining(), ["seed", "device-2"]);
});
