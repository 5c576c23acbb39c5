/**
 * Debian's nginx on 127.0.0.1 serving one directory, from a generated config in a temporary
 * prefix: the real static file server the HTTP client is checked against (Range, If-Range,
 * ETag, gzip_static). Stopped and removed on dispose.
 */
import net from "node:net";

export interface Nginx extends AsyncDisposable {
  port: number;
  url(path: string): string;
  /** The access log so far: one line per request, with the Range asked for and the status. */
  log(): Promise<string>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts nginx on `root`; `extra` goes into its `location /` block (e.g. "gzip_static always;"). */
export async function startNginx(root: string, extra = ""): Promise<Nginx> {
  const prefix = await Deno.makeTempDir({ prefix: "ota-nginx-" });
  for (let attempt = 0;; attempt++) {
    const port = await freePort();
    // Workers run as root here only so that they can read the private temp directories.
    await Deno.writeTextFile(
      `${prefix}/nginx.conf`,
      `${Deno.uid() === 0 ? "user root;\n" : ""}worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log;
events { worker_connections 64; }
http {
  log_format ranges '$request "$http_range" "$http_if_range" "$http_accept_encoding" $status $body_bytes_sent';
  access_log ${prefix}/access.log ranges;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { ${extra} }
  }
}
`,
    );
    const child = new Deno.Command("nginx", {
      args: ["-c", `${prefix}/nginx.conf`, "-p", prefix, "-g", "daemon off;"],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const deadline = Date.now() + 5000;
    let up = false;
    while (Date.now() < deadline && !up) {
      up = await fetch(`http://127.0.0.1:${port}/`, { method: "HEAD" })
        .then((r) => (r.body?.cancel(), true), () => false);
      if (!up) await new Promise((r) => setTimeout(r, 50));
    }
    if (!up) {
      child.kill("SIGKILL");
      const { stderr } = await child.output();
      if (attempt < 3) continue; // the port was taken in between: another one
      await Deno.remove(prefix, { recursive: true });
      throw new Error(`nginx did not start: ${new TextDecoder().decode(stderr)}`);
    }
    return {
      port,
      url: (path) => `http://127.0.0.1:${port}${path}`,
      log: () => Deno.readTextFile(`${prefix}/access.log`).catch(() => ""),
      async [Symbol.asyncDispose]() {
        child.kill("SIGTERM");
        await child.output();
        await Deno.remove(prefix, { recursive: true });
      },
    };
  }
}
