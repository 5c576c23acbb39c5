/**
 * mender.conf files that Mender 3.4 and ota must both take or both refuse. `mender` is what
 * Mender's struct holds after the load (its debug log prints it; the interop test reads it
 * from the real client), `ota` what ota's configuration holds: the same value, except that
 * `""` is not set and 0 seconds is the default.
 */
export type Value = string | number | boolean | undefined;

export interface ConfigCase {
  name: string;
  main: string;
  fallback?: string;
  mender?: Record<string, Value>;
  ota?: Record<string, Value>;
  /** Refused (always CONFIG_INVALID) for a value's type, the JSON syntax, or ota's own rules. */
  refused?: "type" | "syntax" | "schema";
  /** Keys ota reports as ignored, in order. */
  ignored?: string[];
}

const SECONDS = {
  ModuleTimeoutSeconds: 14400,
  StateScriptTimeoutSeconds: 3600,
  StateScriptRetryTimeoutSeconds: 1800,
  StateScriptRetryIntervalSeconds: 60,
};

export const CASES: ConfigCase[] = [
  {
    name: "0 seconds are the defaults",
    main: JSON.stringify(Object.fromEntries(Object.keys(SECONDS).map((k) => [k, 0]))),
    mender: Object.fromEntries(Object.keys(SECONDS).map((k) => [k, 0])),
    ota: SECONDS,
  },
  {
    name: "negative seconds and -0",
    main: '{"ModuleTimeoutSeconds": -5, "StateScriptTimeoutSeconds": -0}',
    mender: { ModuleTimeoutSeconds: -5, StateScriptTimeoutSeconds: 0 },
    ota: { ModuleTimeoutSeconds: 14400, StateScriptTimeoutSeconds: 3600 },
  },
  {
    name: "empty strings are not set",
    main: JSON.stringify({
      ArtifactVerifyKey: "",
      RootfsPartA: "",
      RootfsPartB: "",
      DeviceTypeFile: "",
      ServerCertificate: "",
      UpdateLogPath: "",
    }),
    mender: { ArtifactVerifyKey: "", RootfsPartA: "", DeviceTypeFile: "", ServerCertificate: "" },
    ota: { ArtifactVerifyKey: undefined, RootfsPartA: undefined, DeviceTypeFile: undefined },
  },
  {
    name: "keys in any case",
    main: '{"moduletimeoutseconds": 5, "artifactverifykey": "/k", "ROOTFSPARTA": "/dev/a",' +
      ' "SkipVerify": true, "statescriptTIMEOUTseconds": 9}',
    mender: {
      ModuleTimeoutSeconds: 5,
      ArtifactVerifyKey: "/k",
      RootfsPartA: "/dev/a",
      SkipVerify: true,
      StateScriptTimeoutSeconds: 9,
    },
    ota: { ModuleTimeoutSeconds: 5, ArtifactVerifyKey: "/k", RootfsPartA: "/dev/a" },
  },
  {
    name: "a key given three times in two spellings: the last wins",
    main: '{"moduletimeoutseconds": 1, "ModuleTimeoutSeconds": 2, "moduleTimeoutSeconds": 3,' +
      ' "SkipVerify": true, "skipverify": false}',
    mender: { ModuleTimeoutSeconds: 3, SkipVerify: false },
    ota: { ModuleTimeoutSeconds: 3, SkipVerify: false },
  },
  {
    name: "Go folds the Kelvin sign to k and the long s to s",
    main: '{"ArtifactVerify\\u212aey": "/kelvin", "ModuleTimeout\u017feconds": 6}',
    mender: { ArtifactVerifyKey: "/kelvin", ModuleTimeoutSeconds: 6 },
    ota: { ArtifactVerifyKey: "/kelvin", ModuleTimeoutSeconds: 6 },
  },
  {
    name: "unknown keys of any type are ignored",
    main: '{"NoSuchKey": 1, "Nested": {"a": [1, null, {"b": "c"}]}, "ModuleTimeoutSeconds": 5,' +
      ' "Module_TimeoutSeconds": "x"}',
    mender: { ModuleTimeoutSeconds: 5 },
    ota: { ModuleTimeoutSeconds: 5 },
    ignored: ["NoSuchKey", "Nested", "Module_TimeoutSeconds"],
  },
  {
    name: "null in the main file keeps the fallback's value",
    main: '{"ModuleTimeoutSeconds": null, "ArtifactVerifyKey": null}',
    fallback: '{"ModuleTimeoutSeconds": 4, "ArtifactVerifyKey": "/fallback"}',
    mender: { ModuleTimeoutSeconds: 4, ArtifactVerifyKey: "/fallback" },
    ota: { ModuleTimeoutSeconds: 4, ArtifactVerifyKey: "/fallback" },
  },
  {
    name: "an empty key or 0 in the main file overrides the fallback's",
    main: '{"ModuleTimeoutSeconds": 0, "artifactVerifyKey": ""}',
    fallback: '{"ModuleTimeoutSeconds": 4, "ArtifactVerifyKey": "/fallback", "SkipVerify": true}',
    mender: { ModuleTimeoutSeconds: 0, ArtifactVerifyKey: "", SkipVerify: true },
    ota: { ModuleTimeoutSeconds: 14400, ArtifactVerifyKey: undefined, SkipVerify: true },
  },
  {
    name: "a file that is just null, or {}",
    main: "null",
    fallback: " {} ",
    mender: { ModuleTimeoutSeconds: 0 },
    ota: { ModuleTimeoutSeconds: 14400 },
  },
  {
    name: "the largest int64 (capped where timers end)",
    main: '{"ModuleTimeoutSeconds": 9223372036854775807}',
    mender: { ModuleTimeoutSeconds: 9223372036854775807 },
    ota: { ModuleTimeoutSeconds: 2147483 },
  },
  {
    name: "an empty ArtifactVerifyKey beside ArtifactVerifyKeys",
    main: '{"ArtifactVerifyKey": "", "ArtifactVerifyKeys": ["/a", "/b"]}',
    mender: { ArtifactVerifyKey: "" },
    ota: { ArtifactVerifyKey: undefined },
  },
  // refused by both
  { name: "a string for a number", main: '{"ModuleTimeoutSeconds": "5"}', refused: "type" },
  { name: "1.0 for an int", main: '{"ModuleTimeoutSeconds": 1.0}', refused: "type" },
  { name: "1e3 for an int", main: '{"ModuleTimeoutSeconds": 1e3}', refused: "type" },
  {
    name: "past int64",
    main: '{"ModuleTimeoutSeconds": 9223372036854775808}',
    refused: "type",
  },
  { name: "a string for a bool", main: '{"SkipVerify": "true"}', refused: "type" },
  { name: "a number for a bool", main: '{"skipverify": 1}', refused: "type" },
  { name: "a number for a path", main: '{"ArtifactVerifyKey": 5}', refused: "type" },
  { name: "a list for a path", main: '{"RootfsPartA": ["/dev/a"]}', refused: "type" },
  {
    name: "a wrong type that a later repeat corrects",
    main: '{"ModuleTimeoutSeconds": "x", "moduletimeoutseconds": 7}',
    refused: "type",
  },
  { name: "a list as the file", main: "[]", refused: "type" },
  { name: "a string as the file", main: '"x"', refused: "type" },
  {
    name: "a bad fallback file",
    main: "{}",
    fallback: '{"StateScriptTimeoutSeconds": true}',
    refused: "type",
  },
  { name: "an empty file", main: "", refused: "syntax" },
  { name: "a trailing comma", main: '{"SkipVerify": true,}', refused: "syntax" },
  { name: "a comment", main: '{"SkipVerify": true} // on', refused: "syntax" },
  { name: "two objects", main: "{} {}", refused: "syntax" },
  { name: "a byte order mark", main: "\ufeff{}", refused: "syntax" },
  { name: "single quotes", main: "{'SkipVerify': true}", refused: "syntax" },
  { name: "a raw tab in a string", main: '{"RootfsPartA": "a\tb"}', refused: "syntax" },
  { name: "a leading zero", main: '{"ModuleTimeoutSeconds": 05}', refused: "syntax" },
];

/**
 * Where ota refuses on purpose what Mender 3.4 loads: keys 3.4 does not have (so ignores),
 * which ota reads, given a value it cannot use.
 */
export const DIFFERENCES: ConfigCase[] = [
  {
    name: "ArtifactVerifyKeys (4.x) of the wrong type",
    main: '{"ArtifactVerifyKeys": "/a"}',
    refused: "type",
  },
  {
    name: "both ArtifactVerifyKey and ArtifactVerifyKeys",
    main: '{"ArtifactVerifyKey": "/a", "ArtifactVerifyKeys": ["/b"]}',
    refused: "schema",
  },
  { name: "an ota key of the wrong type", main: '{"Bootloader": 5}', refused: "type" },
  { name: "an unknown bootloader", main: '{"Bootloader": "lilo"}', refused: "schema" },
];

/** What the message of each kind of refusal says. */
export const REFUSAL_WORDS: Record<NonNullable<ConfigCase["refused"]>, RegExp> = {
  type: / must be .+, not [^,]+$/,
  syntax: / is not valid JSON: | nests deeper than /,
  schema: /^configuration /,
};
