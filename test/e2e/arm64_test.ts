/**
 * The linux-arm64 binary, run under qemu-aarch64-static (Debian qemu-user-static, with the
 * arm64 C library from libc6-arm64-cross): it writes an artifact that the x64 binary and
 * mender-artifact accept, reads one back, and installs onto a simulated device.
 */
import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { BINARY_ARM64, ota, pseudoRandomBytes, run, sh } from "../helpers/mod.ts";
import { fixture } from "./fixture.ts";

// the x64 binary checks what the arm64 one wrote, so this names the emulator itself
const emulator = ["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu", BINARY_ARM64];

Deno.test("arm64 binary under qemu: write, read, install, commit", async () => {
  await using f = await fixture();
  const image = `${f.dir}/payload.bin`;
  await Deno.writeFile(image, pseudoRandomBytes(2_000_000, 11));
  const artifact = `${f.dir}/arm64.mender`;
  const write = await run([
    ...emulator,
    "artifact",
    "write",
    "module-image",
    "-T",
    "blob",
    "-n",
    "arm-1",
    "-t",
    "sim-board",
    "-f",
    image,
    "-o",
    artifact,
    "--compression",
    "xz",
  ]);
  assertEquals(write.code, 0, write.stderr);
  assertEquals((await ota(["artifact", "validate", artifact])).code, 0);
  await sh(["mender-artifact", "validate", artifact]);
  const read = await run([...emulator, "artifact", "read", "--json", artifact]);
  assertEquals(read.code, 0, read.stderr);
  assertEquals(JSON.parse(read.stdout).name, "arm-1");

  const rootfs = await f.rootfsArtifact("release-2");
  const args = ["--config", f.device.config, "--data", f.device.data];
  const install = await run([...emulator, "install", ...args, rootfs]);
  assertEquals(install.code, 0, install.stderr);
  assertStringIncludes(install.stdout, "Installed, but not committed.");
  assertEquals((await f.boot()).slotId, "release-2 rootfs");
  assertEquals((await run([...emulator, "commit", ...args])).code, 0);
  assertEquals((await run([...emulator, "show-artifact", ...args])).stdout.trim(), "release-2");
});
