/**
 * Go's `path/filepath` rules for slash paths (Clean, Dir, Base, Split), because
 * mender-artifact decides with them what a path inside an image means: `Dir("/a/b/")` is
 * `/a/b`, so a trailing slash names a directory.
 */

/** Go's Clean: no empty, `.` or `..` elements where avoidable, no trailing slash, "" is ".". */
export function goClean(path: string): string {
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  return rooted ? `/${joined}` : joined || ".";
}

/** Go's Split: everything up to and including the last slash, and the rest. */
export function goSplit(path: string): [string, string] {
  const at = path.lastIndexOf("/");
  return [path.slice(0, at + 1), path.slice(at + 1)];
}

/** Go's Dir: Clean of all but the last element. */
export function goDir(path: string): string {
  return goClean(goSplit(path)[0]);
}

/** Go's Base: the last element, trailing slashes dropped; "" is "." and all slashes "/". */
export function goBase(path: string): string {
  if (path === "") return ".";
  const trimmed = path.replace(/\/+$/, "");
  if (trimmed === "") return "/";
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}
