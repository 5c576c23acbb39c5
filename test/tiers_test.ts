/** Every test file is in exactly one tier, and the tier lists name only what exists. */
import {
  filesOf,
  HW,
  ROOT,
  staleEntries,
  testFiles,
  tierOf,
  TIERS,
} from "../scripts/test_tiers.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

Deno.test("the tiers split the test files between them, each file once", () => {
  const files = testFiles();
  assert(files.includes("test/tiers_test.ts"), "the walk found no test files");
  const split = TIERS.flatMap((tier) => filesOf(tier, files)).sort();
  assertEquals(split, [...files].sort());
  assertEquals(staleEntries(files), [], "tier entries that name no test file");
});

Deno.test("the QEMU suites are the hw tier; a file nobody listed is fast", () => {
  for (const entry of HW) assert(!ROOT.includes(entry));
  assertEquals(tierOf("test/hw/ota_test.ts"), "hw");
  assertEquals(tierOf("test/dfu/dfu_test.ts"), "hw");
  assertEquals(tierOf("test/e2e/ab_test.ts"), "root");
  assertEquals(tierOf("test/update/state_scripts_test.ts"), "root");
  assertEquals(tierOf("test/update/new_test.ts"), "fast");
  assertEquals(staleEntries(["test/e2e/ab_test.ts"]).includes("test/hw/"), true);
});
