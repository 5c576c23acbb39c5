/**
 * Node built-ins loaded on first use instead of at startup: in the compiled binary each of
 * these costs several MiB of resident memory once loaded (node:zlib about 7, node:crypto 4),
 * and a command that waits for its input (a FIFO, a download) needs none of them yet. A
 * static import would not wait: the bundle loads every built-in any of its modules imports.
 */
import process from "node:process";
import type * as Crypto from "node:crypto";
import type * as Http from "node:http";
import type * as Https from "node:https";
import type * as Zlib from "node:zlib";

declare const require: ((id: string) => unknown) | undefined;

function load<T>(name: string): () => T {
  let module: T | undefined;
  return () => {
    if (module) return module;
    const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
    // Node before 20.16 has no getBuiltinModule; its CommonJS bundle has `require`.
    module = (get ? get(name) : require!(name)) as T;
    return module;
  };
}

export const crypto = load<typeof Crypto>("node:crypto");
export const zlib = load<typeof Zlib>("node:zlib");
export const http = load<typeof Http>("node:http");
export const https = load<typeof Https>("node:https");
