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

  const install = (artifact: string, env = "") =>
    guest.exec(otaCommand(`install ${artifact}`, env));
  const provides = async () => (await guest.sh(otaCommand("show-provides"))).trim();
  const expectBoard = (name: string, image: Uint8Array, version: string) => {
    const flash = guest.flash(name);
    assert(sameBytes(flash.image, image), `board ${name} holds ${flash.version}, not ${version}`);
    assertEquals(guest.status(name), `runtime ${version}`);
  };

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
});
