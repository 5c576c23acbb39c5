#!/usr/bin/env -S deno run -A
/** The ota command: the entry point compiled into the single binary. */
import process from "node:process";
import { run } from "../src/cli/main.ts";

// No top-level await: the Node builds are CommonJS.
run(process.argv.slice(2)).then((code) => process.exitCode = code);
