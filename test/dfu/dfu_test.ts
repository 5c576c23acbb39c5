/**
 * The dfu Update Module on a real USB stack: a QEMU guest with dummy_hcd and FunctionFS,
 * virtual boards as USB gadgets, the real dfu-util, ota's install engine and the real
 * Mender client 3.4. Every case checks what the board's flash holds afterwards.
 */
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { hasCommand } from "../helpers/mod.ts";
import { makeFirmware, sameBytes } from "./firmware.ts";
import { boardMeta, otaCommand, setupGateway, writeArtifact } from "./gateway.ts";
import { bootGuest } from "./guest.ts";

const ready = hasCommand("qemu-system-x86_64") && hasCommand("dfu-util") &&
  hasCommand("mender-artifact");

Deno.test({
  name: "dfu module on a real USB stack",
  ignore: !ready,
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  await using guest = await bootGuest();
  await setupGateway(guest);
  const v1 = makeFirmware("1.0.0");
  const v2 = makeFirmware("2.0.0", { size: 24000 });
  await guest.startBoard({ name: "a", flash: v1 });

  const provides = async () => (await guest.sh(otaCommand("show-provides"))).trim();
  let last = "";
  const install = async (artifact: string, env = "") => {
    const result = await guest.exec(otaCommand(`install ${artifact}`, env));
    last = result.stderr;
    return result;
  };
  const expectBoard = (name: string, image: Uint8Array, version: string, log = last) => {
    const flash = guest.flash(name);
    const status = guest.status(name);
    const why = () =>
      `board ${name}: ${flash.image.length} bytes of ${flash.version} (bootable: ` +
      `${flash.bootable}), status "${status}"; expected ${version}\n--- last install:\n` +
      `${log}\n--- board log:\n${guest.boardLog(name).slice(-1500)}`;
    assert(sameBytes(flash.image, image), why());
    assertEquals(status, `runtime ${version}`, why());
  };

  const expectBoard2 = (name: string, image: Uint8Array, version: string) =>
    expectBoard(name, image, version, last2);

  await t.step("ota install flashes the board, commit records dfu.board.version", async () => {
    const artifact = await writeArtifact(guest, {
      name: "dfu-fw-v2",
      firmware: v2,
      meta: boardMeta(),
      version: "2.0.0",
    });
    const result = await install(artifact);
    assertEquals(result.code, 0, result.stderr);
    assertMatch(result.stdout, /Installed, but not committed/);
    expectBoard("a", v2, "2.0.0");
    // The states a managed client runs next (standalone installs skip them).
    const tree = "/var/lib/ota-gw/modules/v3/payloads/0000/tree";
    for (const state of ["ArtifactReboot", "ArtifactVerifyReboot"]) {
      const step = await guest.exec(`cd ${tree} && /share/gw/modules/dfu ${state} ${tree}`);
      assertEquals(step.code, 0, `${state}: ${step.stderr}`);
    }
    assertMatch(
      (await guest.exec(`/share/gw/modules/dfu NeedsArtifactReboot ${tree}`)).stdout,
      /^Yes\n$/,
    );
    expectBoard("a", v2, "2.0.0");
    const commit = await guest.exec(otaCommand("commit"));
    assertEquals(commit.code, 0, commit.stderr);
    assertMatch(await provides(), /^dfu\.board\.version=2\.0\.0$/m);
  });

  await t.step("a v3 the board refuses to boot rolls back to v2 on its own", async () => {
    const artifact = await writeArtifact(guest, {
      name: "dfu-fw-v3",
      firmware: makeFirmware("3.0.0", { corrupt: true }),
      meta: boardMeta(),
      version: "3.0.0",
    });
    const result = await install(artifact);
    assertEquals(result.code, 1, result.stdout);
    assertMatch(result.stderr, /DFU_NOT_BOOTED/);
    expectBoard("a", v2, "2.0.0");
    assertMatch(await provides(), /^dfu\.board\.version=2\.0\.0$/m);
  });

  const v4 = makeFirmware("4.0.0", { size: 16000 });
  const fw4 = await writeArtifact(guest, {
    name: "dfu-fw-v4",
    firmware: v4,
    meta: boardMeta(),
    version: "4.0.0",
  });

  await t.step("no board on the bus: DFU_NO_DEVICE, and the board is untouched", async () => {
    await guest.stopBoard("a");
    const result = await install(fw4);
    assertEquals(result.code, 1, result.stdout);
    assertMatch(result.stderr, /DFU_NO_DEVICE/);
    await guest.startBoard({ name: "a" });
    expectBoard("a", v2, "2.0.0");
  });

  await t.step("two boards and no serial: refused; with a serial only that one", async () => {
    await guest.startBoard({ name: "b", port: 1, flash: v1, serial: "BOARD-B" });
    const result = await install(fw4);
    assertEquals(result.code, 1, result.stdout);
    assertMatch(result.stderr, /2 boards match 1209:0ad0 .*\[DFU_AMBIGUOUS_DEVICE\]/);
    expectBoard("a", v2, "2.0.0");
    expectBoard("b", v1, "1.0.0");
    const onlyB = await writeArtifact(guest, {
      name: "dfu-fw-v4-b",
      firmware: v4,
      meta: boardMeta({ target: "board-b", serial: "BOARD-B" }),
      target: "board-b",
      version: "4.0.0",
    });
    const chosen = await install(onlyB);
    assertEquals(chosen.code, 0, chosen.stderr);
    assertEquals((await guest.exec(otaCommand("commit"))).code, 0);
    expectBoard("b", v4, "4.0.0");
    expectBoard("a", v2, "2.0.0");
    assertMatch(await provides(), /^dfu\.board-b\.version=4\.0\.0$/m);
    await guest.stopBoard("b");
  });

  // The DfuSe board sits on the second bus and has its own data directory: its updates run
  // while the first board's cases go on, which halves what this part costs.
  const data2 = "/var/lib/ota-gw2";
  let last2 = "";
  const install2 = async (artifact: string) => {
    const result = await guest.exec(otaCommand(`install ${artifact}`, "", data2));
    last2 = result.stderr;
    return result;
  };
  const dfuseCase = (async () => {
    const stm = { name: "s", port: 1, vid: 0x0483, pid: 0xdf11, dfuse: 0x08000000 };
    await guest.startBoard({ ...stm, flash: v1, serial: "BOARD-S" });
    const meta = (extra: Record<string, unknown>) => ({
      target: "stm32",
      device: "0483:df11",
      dfuse_address: "0x08000000",
      ...extra,
    });
    const ok = await writeArtifact(guest, {
      name: "stm32-v2",
      firmware: v2,
      // Checked by reading the flash back (DfuSe upload) rather than by the name.
      meta: meta({ verify: "upload" }),
      target: "stm32",
      version: "2.0.0",
    });
    const result = await install2(ok);
    assertEquals(result.code, 0, result.stderr);
    assertEquals((await guest.exec(otaCommand("commit", "", data2))).code, 0);
    expectBoard2("s", v2, "2.0.0");

    const wrong = await writeArtifact(guest, {
      name: "stm32-v4-wrong-address",
      firmware: v4,
      meta: meta({ dfuse_address: "0x09000000" }),
      target: "stm32",
      version: "4.0.0",
    });
    const refused = await install2(wrong);
    assertEquals(refused.code, 1, refused.stdout);
    assertMatch(refused.stderr, /DFU_ADDRESS/);
    expectBoard2("s", v2, "2.0.0");

    const big = await writeArtifact(guest, {
      name: "stm32-too-big",
      firmware: makeFirmware("9.0.0", { size: 70000 }),
      meta: meta({}),
      target: "stm32",
      version: "9.0.0",
    });
    const tooBig = await install2(big);
    assertEquals(tooBig.code, 1, tooBig.stdout);
    assertMatch(tooBig.stderr, /DFU_TOO_LARGE/);
    expectBoard2("s", v2, "2.0.0");
    await guest.stopBoard("s");
  })().then(() => undefined, (error: unknown) => error);

  // Then, on the same bus, a board without DFU upload (its own product id, so that the
  // first board's cases still find exactly one board).
  const noUploadCase = dfuseCase.then(async () => {
    const n = { name: "n", port: 1, pid: 0x0ad2, noUpload: true, serial: "BOARD-N" };
    await guest.startBoard({ ...n, flash: v1 });
    const spec = (name: string, firmware: Uint8Array, version: string, extra = {}) => ({
      name,
      firmware,
      meta: boardMeta({ target: "board-n", device: "1209:0ad2", ...extra }),
      target: "board-n",
      version,
    });
    const refused = await install2(await writeArtifact(guest, spec("n-v2", v2, "2.0.0")));
    assertEquals(refused.code, 1, refused.stdout);
    assertMatch(refused.stderr, /DFU_NO_BACKUP/);
    expectBoard2("n", v1, "1.0.0");

    const allowed = spec("n-v2-allowed", v2, "2.0.0", { allow_no_backup: true });
    const first = await install2(await writeArtifact(guest, allowed));
    assertEquals(first.code, 0, first.stderr);
    assertEquals((await guest.exec(otaCommand("commit", "", data2))).code, 0);
    expectBoard2("n", v2, "2.0.0");

    const broken = spec("n-v3", makeFirmware("3.0.0", { corrupt: true }), "3.0.0");
    const result = await install2(await writeArtifact(guest, broken));
    assertEquals(result.code, 1, result.stdout);
    assertMatch(result.stderr, /will roll back to the last installed image/);
    expectBoard2("n", v2, "2.0.0");
    await guest.stopBoard("n");
  }).then(() => undefined, (error: unknown) => error);

  await t.step("the board vanishes mid-download: rolled back once it is back", async () => {
    guest.setFaults("a", ["vanish-after=8192:4000"]);
    const result = await install(fw4);
    assertEquals(result.code, 1, result.stdout);
    assertMatch(result.stderr, /DFU_DEVICE_LOST/);
    expectBoard("a", v2, "2.0.0");
  });

  await t.step("dfu-util missing: fails before the board is touched", async () => {
    const result = await install(fw4, "OTA_DFU_UTIL=/usr/bin/no-such-dfu-util");
    assertEquals(result.code, 1, result.stdout);
    assertMatch(result.stderr, /DFU_UTIL_MISSING/);
    expectBoard("a", v2, "2.0.0");
  });

  await t.step("dfu-util hangs: stopped after the timeout, old firmware back", async () => {
    guest.setFaults("a", ["hang-at=4096:9000"]);
    const result = await install(fw4, "OTA_DFU_TIMEOUT=4");
    assertEquals(result.code, 1, result.stdout);
    assertMatch(result.stderr, /DFU_TIMEOUT/);
    expectBoard("a", v2, "2.0.0");
  });

  await t.step("firmware larger than the board's memory: refused, old firmware back", async () => {
    const big = await writeArtifact(guest, {
      name: "dfu-fw-big",
      firmware: makeFirmware("9.0.0", { size: 70000 }),
      meta: boardMeta(),
      version: "9.0.0",
    });
    const result = await install(big);
    assertEquals(result.code, 1, result.stdout);
    assertMatch(result.stderr, /DFU_UTIL_FAILED/);
    expectBoard("a", v2, "2.0.0");
  });

  await t.step("the real Mender client 3.4 runs the same module unchanged", async () => {
    await guest.sh(`
      cp /share/gw/modules/dfu /usr/share/mender/modules/v3/dfu
      echo '{}' >/etc/mender/mender.conf
      echo artifact_name=gateway-factory >/etc/mender/artifact_info
      echo device_type=gateway >/var/lib/mender/device_type`);
    const mender = (args: string) => guest.exec(`mender --no-syslog ${args}`);
    const v5 = makeFirmware("5.0.0", { size: 12000 });
    const good = await writeArtifact(guest, {
      name: "dfu-fw-v5",
      firmware: v5,
      meta: boardMeta(),
      version: "5.0.0",
      menderArtifact: true,
    });
    const installed = await mender(`install ${good}`);
    assertEquals(installed.code, 0, installed.stderr);
    expectBoard("a", v5, "5.0.0");
    const committed = await mender("commit");
    assertEquals(committed.code, 0, committed.stderr);
    assertMatch((await mender("show-provides")).stdout, /^dfu\.board\.version=5\.0\.0$/m);

    const broken = await writeArtifact(guest, {
      name: "dfu-fw-v6",
      firmware: makeFirmware("6.0.0", { corrupt: true }),
      meta: boardMeta(),
      version: "6.0.0",
      menderArtifact: true,
    });
    const failed = await mender(`install ${broken}`);
    assertEquals(failed.code, 1, failed.stdout);
    expectBoard("a", v5, "5.0.0");
    assertMatch((await mender("show-provides")).stdout, /^dfu\.board\.version=5\.0\.0$/m);
  });

  await t.step(
    "DfuSe board: flashed at its address; wrong address or too big refused",
    async () => {
      const error = await dfuseCase;
      if (error) throw error;
    },
  );

  await t.step("no DFU upload: the last image ota installed is the way back", async () => {
    const error = await noUploadCase;
    if (error) throw error;
  });
});
