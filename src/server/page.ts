/** The listing as a page for a person with a browser: what is offered, for which devices. */
import type { ListedFile, Listing } from "./listing.ts";

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function size(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

function row(entry: ListedFile): string {
  const file = escape(entry.file);
  const sha = `<code title="${entry.sha256}">${entry.sha256.slice(0, 12)}</code>`;
  if (!entry.valid) {
    return `<tr class="bad"><td class="n">${file}</td><td colspan="4">invalid: ${
      escape(entry.error?.message ?? "unreadable")
    } <code>${escape(entry.error?.code ?? "")}</code></td><td>${
      size(entry.size)
    }</td><td>${sha}</td></tr>`;
  }
  const a = entry.artifact!;
  // Checksums make long values: show the start, the whole value on hover.
  const value = (v: string) =>
    v.length > 24 ? `<span title="${escape(v)}">${escape(v.slice(0, 16))}…</span>` : escape(v);
  const provides = Object.entries(a.provides).map(([k, v]) => `${escape(k)}=${value(v)}`);
  const depends = Object.entries(a.depends).map(([k, v]) =>
    `${escape(k)}=${v.map(escape).join("|")}`
  );
  return `<tr><td class="n"><a href="${escape(entry.url)}">${file}</a></td><td class="n">${
    escape(a.name)
  }</td><td>${a.deviceTypes.map(escape).join(", ")}</td><td>${
    a.payloadTypes.map((t) => escape(t ?? "(empty)")).join(", ")
  }</td><td>${
    a.signatureVerified ? "signed, verified" : a.signed ? "signed" : "unsigned"
  }<br><small>${provides.join("<br>")}${depends.length ? "<br>needs " : ""}${
    depends.join("<br>")
  }</small></td><td class="n">${size(entry.size)}</td><td>${sha}</td></tr>`;
}

export function renderPage(listing: Listing): string {
  const rows = listing.artifacts.map(row).join("\n");
  const pending = listing.pending
    ? `<p>${listing.pending} file(s) are being copied or verified; reload in a moment.</p>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(listing.server.name)} - ota</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}
tr.bad td{color:#a00}code{font-size:90%}small{color:#555}td.n{white-space:nowrap}
</style></head><body>
<h1>Artifacts on ${escape(listing.server.name)}</h1>
${pending}
<table><thead><tr><th>File</th><th>Artifact</th><th>Device types</th><th>Payloads</th><th>Signature, provides, depends</th><th>Size</th><th>SHA-256</th></tr></thead>
<tbody>
${
    rows ||
    '<tr><td colspan="7">No artifacts yet: copy .mender files into the served directory.</td></tr>'
  }
</tbody></table>
<p><small>ota ${
    escape(listing.server.version)
  } · JSON: <code>curl -H 'Accept: application/json' .../artifacts</code> · install on a device: <code>ota install --from-peer</code></small></p>
</body></html>
`;
}
