/**
 * The device identity every command reads: Mender's default places (moved by MENDER_CONF_DIR
 * and MENDER_DATA_DIR), the installed name from the store, else artifact_info, else
 * "unknown", the device_type file as strictly as Mender reads it, and the commit that
 * changes name, group and provides.
 */
import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { tempDir } from "../helpers/mod.ts";
import { configSchema, resolvePaths } from "../../src/device/config.ts";
import { deviceDefaults } from "../../src/device/defaults.ts";
import {
  commitInstalled,
  readDeviceType,
  readIdentity,
  readInstalled,
} from "../../src/device/identity.ts";
import { loadStore, saveStore } from "../../src/device/store.ts";
import { OtaError } from "../../src/errors.ts";

function filesIn(dir: string) {
  return resolvePaths(configSchema.parse({ ArtifactInfoFile: `${dir}/artifact_info` }), dir);
}

Deno.test("defaults: /etc/mender and /var/lib/mender, moved by MENDER_CONF_DIR / MENDER_DATA_DIR", () => {
  assertEquals(deviceDefaults({}), {
    config: "/etc/mender/mender.conf",
    fallbackConfig: "/var/lib/mender/mender.conf",
    data: "/var/lib/mender",
  });
  assertEquals(deviceDefaults({ MENDER_CONF_DIR: "/c", MENDER_DATA_DIR: "/d" }), {
    config: "/c/mender.conf",
    fallbackConfig: "/d/mender.conf",
    data: "/d",
  });
});

Deno.test("installed name: the store, else artifact_info, else unknown", async () => {
  await using dir = await tempDir();
  const files = filesIn(dir.path);
  const installed = await readInstalled(files);
  assertEquals({ ...installed, provides: { ...installed.provides } }, {
    artifactName: "unknown",
    artifactGroup: undefined,
    provides: { artifact_name: "unknown" },
  });
  await Deno.writeTextFile(files.artifactInfoFile, "# image\nartifact_name=factory-1\n");
  assertEquals({ ...(await readInstalled(files)).provides }, { artifact_name: "factory-1" });
  await saveStore(dir.path, {
    version: 1,
    artifactName: "release-2",
    artifactGroup: "beta",
    provides: { "rootfs-image.version": "release-2" },
    writes: 0,
  });
  assertEquals({ ...(await readInstalled(files)).provides }, {
    artifact_name: "release-2",
    artifact_group: "beta",
    "rootfs-image.version": "release-2",
  });
});

Deno.test("device type: one line device_type=<type>, as Mender reads it", async () => {
  await using dir = await tempDir();
  const files = filesIn(dir.path);
  const code = async () => {
    const error = await assertRejects(() => readDeviceType(files));
    assert(error instanceof OtaError, String(error));
    return error.code;
  };
  assertEquals(await code(), "DEVICE_TYPE_MISSING");
  await Deno.writeTextFile(files.deviceTypeFile, "device_type=board-a\n");
  assertEquals(await readDeviceType(files), "board-a");
  assertEquals((await readIdentity(files, { deviceType: "other" })).deviceType, "other");
  for (const bad of ["# comment\ndevice_type=a\n", "device_type=a\nx=y\n", "device_type=\n"]) {
    await Deno.writeTextFile(files.deviceTypeFile, bad);
    assertEquals(await code(), "DEVICE_TYPE_INVALID", JSON.stringify(bad));
  }
});

Deno.test("commit: name, group and provides change by the artifact's rules", async () => {
  await using dir = await tempDir();
  const store = await loadStore(dir.path);
  store.provides = { "rootfs-image.version": "r1", "data.version": "d1", "app.version": "a1" };
  commitInstalled(store, {
    payloads: [{ type: "rootfs-image" }],
    artifact_provides: { artifact_name: "r2", artifact_group: "stable" },
    artifact_depends: { device_type: ["board-a"] },
  }, [{
    type: "rootfs-image",
    typeInfo: {
      artifact_provides: { "rootfs-image.version": "r2" },
      clears_artifact_provides: ["rootfs-image.*", "app.*"],
    },
  }]);
  assertEquals([store.artifactName, store.artifactGroup], ["r2", "stable"]);
  assertEquals({ ...store.provides }, { "data.version": "d1", "rootfs-image.version": "r2" });
});
