#!/usr/bin/env -S deno run -A
/** The ota command: the entry point compiled into the single binary. */
import process from "node:process";
import { run } from "../src/cli/main.ts";

process.exitCode = await run(process.argv.slice(2));
