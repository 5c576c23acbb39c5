/**
 * A Debian mirror on loopback for the download-cache tests, so the real apt-get and apt-cache
 * run against it: packages built with dpkg-deb, a Release and Packages index that apt takes
 * with [trusted=yes], and the faults a real mirror shows in a bad moment, queued per package
 * (or per index file: "Release", "Packages"): a body cut in half (apt: "File has unexpected size ... Mirror sync in progress?"), a 503, a 404,
 * a 403. `aptConfig` is an APT_CONFIG file pointing apt at it, with private lists and cache.
 */
import { at } from "../helpers/assert.ts";
import { sh } from "../helpers/mod.ts";

export interface MirrorPackage {
  name: string;
  version: string;
  depends?: string;
  /** Files in the package, by path relative to its root. */
  files?: Record<string, string | Uint8Array>;
}

export type Fault = "short" | "503" | "404" | "403";

export interface Mirror extends AsyncDisposable {
  suite: string;
  /** The sources.list line for this mirror. */
  source: string;
  /** An apt configuration (for APT_CONFIG) with private lists and cache. */
  aptConfig: string;
  /** Queues faults for the next GETs of a package's .deb (or an index file), one each. */
  fault(name: string, ...faults: Fault[]): void;
  /** GETs of a package's .deb (or an index file) so far, faulty ones included. */
  requests(name: string): number;
  /** Replaces what the mirror carries (the index and the pool) with PACKAGES. */
  publish(packages: MirrorPackage[]): Promise<void>;
  /** The bytes of PACKAGE's .deb as published. */
  deb(name: string): Uint8Array<ArrayBuffer>;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function buildDeb(work: string, pkg: MirrorPackage): Promise<Uint8Array<ArrayBuffer>> {
  const root = await Deno.makeTempDir({ dir: work, prefix: `${pkg.name}-` });
  await Deno.mkdir(`${root}/DEBIAN`);
  const control = [
    `Package: ${pkg.name}`,
    `Version: ${pkg.version}`,
    "Architecture: amd64",
    "Maintainer: Test <test@example.org>",
    ...(pkg.depends ? [`Depends: ${pkg.depends}`] : []),
    `Description: ${pkg.name} for the cache tests`,
    "",
  ].join("\n");
  await Deno.writeTextFile(`${root}/DEBIAN/control`, control);
  for (const [path, content] of Object.entries(pkg.files ?? {})) {
    const full = `${root}/${path.replace(/^\.?\/+/, "")}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    if (typeof content === "string") await Deno.writeTextFile(full, content);
    else await Deno.writeFile(full, content);
  }
  await sh(["dpkg-deb", "--root-owner-group", "--build", root, `${root}.deb`]);
  const bytes = await Deno.readFile(`${root}.deb`);
  await Deno.remove(root, { recursive: true });
  await Deno.remove(`${root}.deb`);
  return bytes;
}

export async function startMirror(work: string, packages: MirrorPackage[]): Promise<Mirror> {
  const suite = "test";
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  const debs = new Map<string, { path: string; bytes: Uint8Array<ArrayBuffer> }>();
  const faults = new Map<string, Fault[]>();
  const requests = new Map<string, number>();

  const publish = async (list: MirrorPackage[]) => {
    files.clear();
    debs.clear();
    const stanzas: string[] = [];
    for (const pkg of list) {
      const bytes = await buildDeb(work, pkg);
      const path = `/pool/main/${pkg.name}_${pkg.version}_amd64.deb`;
      files.set(path, bytes);
      debs.set(pkg.name, { path, bytes });
      stanzas.push(
        [
          `Package: ${pkg.name}`,
          `Version: ${pkg.version}`,
          "Architecture: amd64",
          "Maintainer: Test <test@example.org>",
          ...(pkg.depends ? [`Depends: ${pkg.depends}`] : []),
          `Description: ${pkg.name} for the cache tests`,
          `Filename: ${path.slice(1)}`,
          `Size: ${bytes.length}`,
          `SHA256: ${await sha256(bytes)}`,
          "",
        ].join("\n"),
      );
    }
    const index = new TextEncoder().encode(stanzas.join("\n"));
    files.set(`/dists/${suite}/main/binary-amd64/Packages`, index);
    const release = [
      `Origin: test`,
      `Suite: ${suite}`,
      `Codename: ${suite}`,
      `Date: ${new Date().toUTCString()}`,
      "Architectures: amd64",
      "Components: main",
      "SHA256:",
      ` ${await sha256(index)} ${index.length} main/binary-amd64/Packages`,
      "",
    ].join("\n");
    files.set(`/dists/${suite}/Release`, new TextEncoder().encode(release));
  };
  await publish(packages);

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    const name = [...debs].find(([, d]) => d.path === path)?.[0] ?? path.split("/").pop() ?? "";
    const body = files.get(path);
    requests.set(name, (requests.get(name) ?? 0) + 1);
    const fault = faults.get(name)?.shift();
    if (fault === "short" && body) return new Response(body.slice(0, body.length >> 1));
    if (fault) return new Response("fault\n", { status: Number(fault) });
    if (!body) return new Response("not found\n", { status: 404 });
    return new Response(req.method === "HEAD" ? null : body);
  });
  const url = `http://127.0.0.1:${server.addr.port}`;

  const apt = `${work}/apt`;
  await Deno.mkdir(`${apt}/lists/partial`, { recursive: true });
  await Deno.mkdir(`${apt}/cache/archives/partial`, { recursive: true });
  const source = `deb [trusted=yes] ${url}/ ${suite} main`;
  await Deno.writeTextFile(`${apt}/sources.list`, source + "\n");
  const aptConfig = `${apt}/apt.conf`;
  await Deno.writeTextFile(
    aptConfig,
    [
      `Dir::Etc::SourceList "${apt}/sources.list";`,
      `Dir::Etc::SourceParts "/nonexistent";`,
      `Dir::State::Lists "${apt}/lists";`,
      `Dir::State::status "/dev/null";`,
      `Dir::Cache "${apt}/cache";`,
      `APT::Sandbox::User "root";`,
      // apt's own retries would hide the faults from the code under test
      `Acquire::Retries "0";`,
      `Acquire::Languages "none";`,
      "",
    ].join("\n"),
  );

  return {
    suite,
    source,
    aptConfig,
    fault: (name, ...list) => faults.set(name, [...(faults.get(name) ?? []), ...list]),
    requests: (name) => requests.get(name) ?? 0,
    publish,
    deb: (name) => {
      const deb = debs.get(name);
      if (!deb) throw new Error(`the mirror carries no ${name}`);
      return deb.bytes;
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** The last line of a command's output: where the scripts put their one-line failure. */
export function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return at(lines, lines.length - 1, "output lines");
}
