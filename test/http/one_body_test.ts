/**
 * One resumable HTTP body: installs from a URL (src/update/source.ts) and from peers
 * (src/peers/stream.ts) both open src/http/resumable.ts, and no other client code carries its
 * own Range, If-Range, Content-Range, Content-Encoding or timeout handling. The behaviour
 * behind it is tested in resumable_test.ts, test/peers/stream_test.ts and test/e2e/http_test.ts.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import { ROOT } from "../helpers/mod.ts";

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}/${dir}`)) {
    if (entry.isDirectory) out.push(...await sources(`${dir}/${entry.name}`));
    else if (entry.name.endsWith(".ts")) out.push(`${dir}/${entry.name}`);
  }
  return out;
}

Deno.test("URL and peer downloads both open the one body in src/http", async () => {
  for (const user of ["src/update/source.ts", "src/peers/stream.ts"]) {
    const text = await Deno.readTextFile(`${ROOT}/${user}`);
    assert(text.includes('from "../http/resumable.ts"'), `${user} does not use the one body`);
    assert(/\bopenBody\(/.test(text), `${user} does not open a body`);
  }
});

Deno.test("no HTTP client code outside src/http handles Range, validators or timers itself", async () => {
  // The server side (src/server) answers these headers; the client side lives in src/http.
  // Header names as code uses them (in quotes), and a request aborted from a timer (an idle
  // or rate watchdog of its own); comments may name them, and a daemon may abort its own stop.
  const clientRules =
    /["'`](range|if-range|content-range|content-encoding|retry-after)["'`]|setTimeout\([^)]*abort/i;
  const offenders: string[] = [];
  for (const file of await sources("src")) {
    if (file.startsWith("src/http/") || file.startsWith("src/server/")) continue;
    const text = await Deno.readTextFile(`${ROOT}/${file}`);
    if (clientRules.test(text)) offenders.push(file);
  }
  assertEquals(offenders, []);
});
