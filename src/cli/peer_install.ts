/** `ota install --from-peer` and `--keep-for-peers`: the peer side of an install. */
import { transferLimits } from "../device/config.ts";
import { readIdentity } from "../device/identity.ts";
import { fail } from "../errors.ts";
import type { Engine } from "../update/context.ts";
import { verifyKeys } from "../update/keys.ts";
import type { InstallOptions } from "../update/standalone.ts";
import { keepSource, openPeerSource } from "../peers/install_source.ts";
import { parseSize } from "./options.ts";

export interface PeerInstallFlags {
  fromPeer?: string | boolean;
  peer?: string[];
  peerToken?: string;
  keepForPeers?: string;
  keepMax?: string;
}

/** The install options that bring the artifact from peers and/or keep a copy for them. */
export async function peerInstallOptions(
  engine: Engine,
  uri: string | undefined,
  o: PeerInstallFlags,
): Promise<Pick<InstallOptions, "source" | "wrapSource">> {
  if (o.fromPeer !== undefined && uri !== undefined) {
    fail("BAD_ARGUMENTS", "give a URI or --from-peer, not both");
  }
  if (o.fromPeer === undefined && uri === undefined) {
    fail("BAD_ARGUMENTS", "give the artifact to install (a path or URL), or --from-peer");
  }
  const log = (message: string) => engine.log.info(message);
  const options: Pick<InstallOptions, "source" | "wrapSource"> = {};
  if (o.fromPeer !== undefined) {
    const device = await readIdentity(engine.paths);
    options.source = await openPeerSource(device, {
      name: typeof o.fromPeer === "string" ? o.fromPeer : undefined,
      urls: o.peer,
      token: o.peerToken,
      log,
      limits: transferLimits(engine.config),
      adaptive: engine.config.AdaptiveUpdates && o.keepForPeers === undefined,
    });
  }
  if (o.keepForPeers !== undefined) {
    const keep = {
      dir: o.keepForPeers,
      maxDirBytes: o.keepMax ? parseSize(o.keepMax) : undefined,
      verifyKeys: await verifyKeys(engine.config),
      log,
    };
    options.wrapSource = (source) => keepSource(source, keep);
  }
  return options;
}
