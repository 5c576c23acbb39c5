/**
 * The dfu module's parsing on the host: meta-data and gateway settings, dfu-util's list
 * output (lines as dfu-util 0.11 prints them for the virtual boards) and DfuSe memory
 * layouts. The behaviour against a board is tested in dfu_test.ts.
 */
import { assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { BINARY, ROOT, run, tempDir } from "../helpers/mod.ts";
import { layoutSegments, layoutSize } from "../../modules/dfu/board.ts";
import { boardInterfaces, parseList } from "../../modules/dfu/dfu_util.ts";
import { readSettings } from "../../modules/dfu/settings.ts";

async function tree(dir: string, meta: unknown, provides: Record<string, string> = {}) {
  await Deno.mkdir(`${dir}/header`, { recursive: true });
  await Deno.writeTextFile(`${dir}/header/meta-data`, JSON.stringify(meta));
  await Deno.writeTextFile(
    `${dir}/header/type-info`,
    JSON.stringify({ type: "dfu", artifact_provides: provides }),
  );
  return dir;
}

const noConf = { OTA_DFU_CONF: "/nonexistent/dfu.conf" };

Deno.test("dfu settings: meta-data, provides and the gateway's configuration", async () => {
  await using dir = await tempDir();
  const t = await tree(dir.path, { target: "sensor", device: "1209:0AD0", serial: "SN1" }, {
    "dfu.sensor.version": "2.1.0",
  });
  await Deno.writeTextFile(
    `${dir.path}/dfu.conf`,
    "# gateway\ndfu_util = /opt/dfu-util\ntimeout=7\n",
  );
  const s = await readSettings(t, { OTA_DFU_CONF: `${dir.path}/dfu.conf` });
  assertEquals(s.board.runtimeId, "1209:0ad0");
  assertEquals(s.board.dfuId, "1209:0ad0");
  assertEquals(s.board.version, "2.1.0");
  assertEquals(s.board.alt, 0);
  assertEquals(s.board.verify, "name");
  assertEquals(s.gateway.dfuUtil, "/opt/dfu-util");
  assertEquals(s.gateway.timeout, 7);
  // The environment wins over the file.
  const env = await readSettings(t, { OTA_DFU_CONF: `${dir.path}/dfu.conf`, OTA_DFU_TIMEOUT: "3" });
  assertEquals(env.gateway.timeout, 3);
});

Deno.test("dfu settings: clear errors for wrong meta-data", async () => {
  await using dir = await tempDir();
  await tree(dir.path, { alt: 1 });
  const missing = await assertRejects(() => readSettings(dir.path, noConf));
  assertMatch(missing.message, /meta-data field "device"/);
  await tree(dir.path, { device: "1209:0ad0", version: "1.0" }, { "dfu.mcu.version": "2.0" });
  const differs = await assertRejects(() => readSettings(dir.path, noConf));
  assertMatch(differs.message, /differs from dfu\.mcu\.version="2\.0"/);
  await tree(dir.path, { device: "1209:0ad0", dfuse_address: "8000000h" });
  const address = await assertRejects(() => readSettings(dir.path, noConf));
  assertMatch(address.message, /dfuse_address/);
});

Deno.test("dfu-util -l output: modes, paths, serials, and one board among several", () => {
  const out = `dfu-util 0.11

Found Runtime: [1209:0ad0] ver=0612, devnum=2, cfg=1, intf=0, path="1-1", alt=0, name="firmware 2.0.0", serial="BOARD-A"
Found DFU: [1209:0ad0] ver=0612, devnum=3, cfg=1, intf=0, path="2-1", alt=0, name="firmware", serial="BOARD-B"
Found DFU: [0483:df11] ver=0612, devnum=2, cfg=1, intf=0, path="2-1", alt=0, name="@Internal Flash  /0x08000000/64*001Kg", serial="S2"
`;
  const all = parseList(out);
  assertEquals(all.length, 3);
  assertEquals(all[0], {
    mode: "runtime",
    id: "1209:0ad0",
    path: "1-1",
    alt: 0,
    name: "firmware 2.0.0",
    serial: "BOARD-A",
  });
  const board = {
    target: "b",
    runtimeId: "1209:0ad0",
    dfuId: "1209:0ad0",
    alt: 0,
    verify: "name" as const,
    allowNoBackup: false,
  };
  assertEquals(boardInterfaces(all, board).length, 2);
  assertEquals(boardInterfaces(all, { ...board, serial: "BOARD-B" }).map((i) => i.path), ["2-1"]);
});

Deno.test("DfuSe memory layouts: segments and the room left from an address", () => {
  assertEquals(layoutSegments("@Internal Flash  /0x08000000/64*001Kg"), [
    { start: 0x08000000, end: 0x08010000 },
  ]);
  // STM32F4: sectors of different sizes form one region.
  const f4 = "@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg";
  assertEquals(layoutSegments(f4), [{ start: 0x08000000, end: 0x08100000 }]);
  assertEquals(layoutSize(f4, 0x08004000), 0x100000 - 0x4000);
  assertEquals(layoutSize(f4, 0x09000000), undefined);
  assertEquals(layoutSegments("firmware"), []);
});

Deno.test("the shim answers the constant queries exactly as the module does", async () => {
  await using dir = await tempDir();
  for (const state of ["NeedsArtifactReboot", "SupportsRollback", "ArtifactFailure", "Cleanup"]) {
    const viaShim = await run(["sh", `${ROOT}/modules/dfu/dfu`, state, dir.path], {
      env: { OTA_BIN: "/nonexistent/ota" },
    });
    const viaBinary = await run([BINARY, "module", "dfu", state, dir.path]);
    assertEquals(viaShim, viaBinary, state);
  }
  // Every other state goes to the binary.
  const passed = await run(["sh", `${ROOT}/modules/dfu/dfu`, "ArtifactInstall", dir.path], {
    env: { OTA_BIN: "echo" },
  });
  assertEquals(passed.stdout, `module dfu ArtifactInstall ${dir.path}\n`);
});
