/**
 * The one place that looks at which runtime runs ota (Deno from source, Bun in the compiled
 * binary). Everything else uses Web APIs and `node:` built-ins only.
 */

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

export const runtime: "bun" | "deno" | "node" = g.Bun ? "bun" : g.Deno ? "deno" : "node";

export interface HttpClientOptions {
  /** PEM certificate(s) to trust in addition to the system store. */
  ca?: string;
  /** Skip TLS certificate verification (Mender's SkipVerify). */
  insecure?: boolean;
  /** Proxy URL for this request, already chosen from HTTPS_PROXY / NO_PROXY. */
  proxy?: string;
}

/**
 * A `fetch` that honours a trusted CA, SkipVerify and an explicit proxy. The two runtimes
 * take these as different, non-standard options; this is where that difference lives.
 */
export function httpFetch(options: HttpClientOptions): typeof fetch {
  if (runtime === "bun") {
    const extra = {
      ...(options.ca || options.insecure
        ? { tls: { ca: options.ca, rejectUnauthorized: !options.insecure } }
        : {}),
      ...(options.proxy ? { proxy: options.proxy } : {}),
    };
    return (input, init) => fetch(input, { ...init, ...extra } as unknown as RequestInit);
  }
  if (runtime === "deno" && (options.ca || options.proxy || options.insecure)) {
    if (options.insecure) {
      throw new Error(
        "SkipVerify needs the compiled ota binary; under Deno run with --unsafely-ignore-certificate-errors",
      );
    }
    const client = g.Deno.createHttpClient({
      ...(options.ca ? { caCerts: [options.ca] } : {}),
      ...(options.proxy ? { proxy: { url: options.proxy } } : {}),
    });
    return (input, init) => fetch(input, { ...init, client } as unknown as RequestInit);
  }
  return fetch;
}
