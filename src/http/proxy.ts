/** Chooses the proxy for a URL from HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as curl and Go do. */

function noProxyMatches(host: string, port: string, noProxy: string): boolean {
  return noProxy.split(/[\s,]+/).filter(Boolean).some((raw) => {
    if (raw === "*") return true;
    const [entryHost = "", entryPort] = raw.toLowerCase().replace(/^\*?\./, ".").split(":");
    if (entryPort && entryPort !== port) return false;
    const bare = entryHost.replace(/^\./, "");
    return host === bare || host.endsWith(`.${bare}`);
  });
}

export function proxyFor(url: string, env: Record<string, string | undefined>): string | undefined {
  const parsed = new URL(url);
  const https = parsed.protocol === "https:";
  const proxy = https ? env.HTTPS_PROXY ?? env.https_proxy : env.HTTP_PROXY ?? env.http_proxy;
  if (!proxy) return undefined;
  const port = parsed.port || (https ? "443" : "80");
  const noProxy = env.NO_PROXY ?? env.no_proxy ?? "";
  if (noProxyMatches(parsed.hostname.toLowerCase().replace(/^\[|\]$/g, ""), port, noProxy)) {
    return undefined;
  }
  return proxy;
}
