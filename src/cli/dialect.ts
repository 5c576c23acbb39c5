/**
 * Which tool ota speaks as. Started through a symlink named `mender-artifact`, the artifact
 * commands keep that tool's defaults and output: `read`'s layout, `write`'s default output
 * name, no success lines of their own, `validate` refusing a signed artifact without a key.
 */
let menderArtifact = false;

export function speakMenderArtifact(): void {
  menderArtifact = true;
}

export function isMenderArtifact(): boolean {
  return menderArtifact;
}
