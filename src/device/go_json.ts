/**
 * JSON read the way Go's encoding/json sees it before it fills a struct: keys in file order
 * with repeats kept (Go applies each in turn, so the last one wins), and numbers as their
 * literal text (Go refuses `1.0` or `1e3` for an int field, and a value past int64). The
 * syntax is RFC 8259, as strict as Go's: no comments, no trailing commas, no BOM.
 */
import { fail } from "../errors.ts";

export type GoJson =
  | { kind: "object"; entries: [string, GoJson][] }
  | { kind: "array"; items: GoJson[] }
  | { kind: "string"; value: string }
  | { kind: "number"; raw: string }
  | { kind: "bool"; value: boolean }
  | { kind: "null" };

/** Go's limit on nesting. */
const MAX_DEPTH = 10000;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Parses `text`; a syntax error is CONFIG_INVALID naming `source` and the offset. */
export function parseGoJson(text: string, source: string): GoJson {
  let at = 0;
  const syntax = (what: string): never => {
    if (at >= text.length) {
      fail("CONFIG_INVALID", `${source} is not valid JSON: unexpected end of JSON input`);
    }
    fail(
      "CONFIG_INVALID",
      `${source} is not valid JSON: invalid character ${
        JSON.stringify(text[at])
      } at offset ${at} ${what}`,
    );
  };
  const space = () => {
    while (at < text.length && " \t\n\r".includes(text[at]!)) at++;
  };
  const expect = (char: string, what: string) => {
    space();
    if (text[at] !== char) syntax(what);
    at++;
  };
  const string = (): string => {
    const start = at++; // the opening quote
    while (at < text.length && text[at] !== '"') {
      if (text.charCodeAt(at) < 0x20) syntax("in string literal");
      at += text[at] === "\\" ? 2 : 1;
    }
    if (at >= text.length) syntax("in string literal");
    at++;
    try {
      return JSON.parse(text.slice(start, at)) as string;
    } catch {
      at = start;
      return syntax("in string escape code");
    }
  };
  const value = (depth: number): GoJson => {
    if (depth > MAX_DEPTH) fail("CONFIG_INVALID", `${source} nests deeper than ${MAX_DEPTH}`);
    space();
    const char = text[at];
    if (char === "{") {
      at++;
      const entries: [string, GoJson][] = [];
      space();
      if (text[at] === "}") {
        at++;
        return { kind: "object", entries };
      }
      for (;;) {
        space();
        if (text[at] !== '"') syntax("looking for beginning of object key string");
        const key = string();
        expect(":", "after object key");
        entries.push([key, value(depth + 1)]);
        space();
        if (text[at] === "}") {
          at++;
          return { kind: "object", entries };
        }
        expect(",", "after object key:value pair");
      }
    }
    if (char === "[") {
      at++;
      const items: GoJson[] = [];
      space();
      if (text[at] === "]") {
        at++;
        return { kind: "array", items };
      }
      for (;;) {
        items.push(value(depth + 1));
        space();
        if (text[at] === "]") {
          at++;
          return { kind: "array", items };
        }
        expect(",", "after array element");
      }
    }
    if (char === '"') return { kind: "string", value: string() };
    for (const [word, node] of LITERALS) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return node;
      }
    }
    NUMBER.lastIndex = at;
    const number = NUMBER.exec(text);
    if (!number) return syntax("looking for beginning of value");
    at += number[0].length;
    return { kind: "number", raw: number[0] };
  };
  const result = value(0);
  space();
  if (at < text.length) syntax("after top-level value");
  return result;
}

const LITERALS: [string, GoJson][] = [
  ["true", { kind: "bool", value: true }],
  ["false", { kind: "bool", value: false }],
  ["null", { kind: "null" }],
];

/** The node as a plain JavaScript value (for a key whose type ota leaves open). */
export function plainJson(node: GoJson): unknown {
  switch (node.kind) {
    case "object":
      return Object.fromEntries(node.entries.map(([key, item]) => [key, plainJson(item)]));
    case "array":
      return node.items.map(plainJson);
    case "number":
      return Number(node.raw);
    case "null":
      return null;
    default:
      return node.value;
  }
}
