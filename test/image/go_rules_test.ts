/**
 * The Go rules mender-artifact decides with, reimplemented: filepath's Dir/Base/Clean (a
 * trailing slash names a directory for rm), strconv.ParseInt(s, 0, 64) for `install -m`,
 * encoding/json's key order and escapes, and the command-line translation of Go flags.
 * Expected values are Go's documented results.
 */
import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { goBase, goClean, goDir } from "../../src/image/go_path.ts";
import { parseGoInt } from "../../src/cli/go_flags.ts";
import { goIndent, goJson } from "../../src/artifact/go_json.ts";
import { translateMenderArtifactArgs } from "../../src/cli/mender_artifact.ts";

Deno.test("Go's filepath: Dir, Base and Clean", () => {
  const cases: [string, string, string, string][] = [
    // path, Dir, Base, Clean
    ["/etc/x", "/etc", "x", "/etc/x"],
    ["/opt/a/", "/opt/a", "a", "/opt/a"],
    ["/", "/", "/", "/"],
    ["etc/x", "etc", "x", "etc/x"],
    ["x", ".", "x", "x"],
    ["", ".", ".", "."],
    ["/a/../b//c/.", "/b/c", ".", "/b/c"],
  ];
  for (const [path, dir, base, clean] of cases) {
    assertEquals([goDir(path), goBase(path), goClean(path)], [dir, base, clean], path);
  }
});

Deno.test("Go's ParseInt with base 0, as urfave reads -m", async () => {
  const cases: [string, number][] = [
    ["0755", 0o755],
    ["755", 755],
    ["0o644", 0o644],
    ["0x1ed", 0x1ed],
    ["0b111", 7],
    ["0", 0],
  ]; // deno-fmt-ignore
  for (const [text, value] of cases) assertEquals(parseGoInt(text, "-m"), value, text);
  for (const bad of ["0789", "abc", "7__5", "5_", "0x", "", "0b2"]) {
    await assertRejects(() => Promise.resolve().then(() => parseGoInt(bad, "-m")), bad);
  }
});

Deno.test("Go's json.Marshal order and escapes, and json.Indent", () => {
  const value = { z: 1, a: { y: [1, "<&>"], b: {} }, "é": "\u2028" };
  assertEquals(goJson(value), '{"a":{"b":{},"y":[1,"\\u003c\\u0026\\u003e"]},"z":1,"é":"\\u2028"}');
  assertEquals(
    goIndent('{"a":[1,2],"b":{}}', "\t", "  "),
    '{\n\t  "a": [\n\t    1,\n\t    2\n\t  ],\n\t  "b": {}\n\t}',
  );
}); // deno-fmt-ignore

Deno.test("mender-artifact command lines become ota's", () => {
  const cases: [string[], string[]][] = [
    [["--compression", "none", "write", "rootfs-image", "-artifact-name", "a"],
      ["artifact", "write", "rootfs-image", "--artifact-name", "a", "--compression", "none"]],
    [["read", "-no-progress", "-k", "-odd-key.pem", "x.mender"],
      ["artifact", "read", "--no-progress", "-k", "-odd-key.pem", "x.mender"]],
    [["help", "modify"], ["artifact", "modify", "--help"]],
    [["sign", "-f", "-output-path", "o.mender", "a.mender"],
      ["artifact", "sign", "-f", "--output-path", "o.mender", "a.mender"]],
    [["write"], ["artifact", "write", "--help"]],
    [[], ["artifact", "--help"]],
    [["-v"], ["--version"]],
  ]; // deno-fmt-ignore
  for (const [argv, translated] of cases) assertEquals(translateMenderArtifactArgs(argv), translated);
});
