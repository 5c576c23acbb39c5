/** The handler of an empty payload (a bootstrap artifact): nothing to write, nothing to reboot. */
import { fail } from "../errors.ts";
import type { PayloadHandler } from "./handler.ts";

export function emptyHandler(): PayloadHandler {
  const nothing = () => Promise.resolve();
  return {
    type: "empty",
    async download(files) {
      for await (const file of files) {
        await file.stream.cancel();
        fail(
          "ARTIFACT_STRUCTURE",
          `an empty-payload artifact must not carry files (found ${file.name})`,
        );
      }
    },
    install: nothing,
    needsReboot: () => Promise.resolve("No"),
    supportsRollback: () => Promise.resolve(false),
    reboot: nothing,
    verifyReboot: nothing,
    commit: nothing,
    rollback: nothing,
    rollbackReboot: nothing,
    verifyRollbackReboot: nothing,
    failure: nothing,
    cleanup: nothing,
  };
}
