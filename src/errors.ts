/**
 * Errors that speak to people: a stable code a script can match on, one line that says
 * what happened and what to do, and the exit code Mender's client would use.
 */

/** Mender's exit codes: 0 ok, 1 failed, 2 nothing in progress, 4 reboot required. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  nothingInProgress: 2,
  rebootRequired: 4,
} as const;
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/**
 * Every code ota and its Update Modules report, by area. A script may match on these, so a
 * code once shipped keeps its meaning; a new failure gets a new code here.
 */
export const ERROR_CODES = [
  // Command line and configuration
  "BAD_ARGUMENTS", // a command line ota cannot act on
  "UNKNOWN_COMMAND", // a command name that does not exist (also before --help)
  "NOT_SUPPORTED", // a Mender command or payload ota does not offer
  "CONFIG_INVALID", // mender.conf or ota's own settings are wrong
  "FILE_READ", // a file named on the command line could not be read
  "FILE_UNREADABLE", // a file an option names (a key, a certificate) could not be read
  "FILE_WRITE", // an output file could not be created
  "INTERNAL", // a bug: something that cannot happen did
  // Artifact format (reading, writing, signing)
  "ARTIFACT_CORRUPT", // the outer tar is not valid
  "ARTIFACT_TRUNCATED", // the artifact ends early
  "ARTIFACT_STRUCTURE", // members missing, repeated or out of order
  "ARTIFACT_VERSION", // a format version other than 3
  "ARTIFACT_JSON", // a JSON member is not what Mender writes
  "ARTIFACT_FIELD_INVALID", // a name, device type, provide or depend that would break a line
  "ARTIFACT_SIGNED", // signing an artifact that already carries a signature
  "HEADER_INVALID", // the header tar or its contents
  "AUGMENT_OVERRIDE", // a header-augment changes what the signed header says
  "AUGMENT_REFUSED", // the payload's installer does not take an augmented payload
  "MANIFEST_INVALID", // the manifest is malformed
  "MANIFEST_MISMATCH", // the manifest and the members disagree
  "CHECKSUM_MISMATCH", // a member or payload file does not match its checksum
  "PAYLOAD_INVALID", // the payload tar is not valid
  "TAR_TYPE_UNSUPPORTED", // a sparse, multi-volume or unknown tar entry, not a plain file
  "UNSAFE_NAME", // a name that could escape its directory, or a link
  "TAR_NAME", // a name too long to write in a tar header
  "LIMIT_EXCEEDED", // input larger than its limit (a bomb or a mistake)
  "BAD_COMPRESSION", // an unknown compression name
  "GZIP_CORRUPT", // gzip data could not be decompressed
  "ZSTD_CORRUPT", // zstd data could not be decompressed
  "ZSTD_UNAVAILABLE", // neither node:zlib nor the build has zstd (a source run, its wasm not built)
  "ZSTD_WINDOW_TOO_LARGE", // a zstd frame needs a window over 128 MiB (zstd --long=28 and up)
  "XZ_CORRUPT", // xz data could not be decompressed
  "XZ_MEMLIMIT", // an xz stream needs more memory than allowed
  "KEY_INVALID", // a signing or verification key cannot be used
  "KEY_UNSUPPORTED", // a key type Mender does not sign with
  "SIGNATURE_INVALID", // the signature does not verify
  "SIGNATURE_MISSING", // a key was given but the artifact is not signed
  "SIGNATURE_UNCHECKED", // a signed artifact was validated without a key (as mender-artifact)
  "INPUT_CHANGED", // a file changed while the artifact was written
  "READER_MISUSE", // the reader API was used out of order (a bug in the caller)
  // Files inside artifacts and images (modify, cp, cat, install, rm)
  "IMAGE_PATH", // an IMAGE:PATH argument that names no image or no usable path
  "IMAGE_NOT_FOUND", // the file or directory is not in the image
  "IMAGE_FS_UNSUPPORTED", // the payload is not an ext4 file system
  "E2FS_FAILED", // fsck.ext4 or debugfs failed
  "TOOL_MISSING", // a program ota needs (debugfs, fsck.ext4) is not installed
  // Device identity and compatibility
  "DEVICE_TYPE_MISSING", // no device_type file, or no device_type line in it
  "DEVICE_TYPE_INVALID", // the device_type file is malformed
  "ARTIFACT_INCOMPATIBLE", // the artifact's depends do not match the device
  "STORE_CORRUPT", // ota's own state store is damaged
  "LMDB_CORRUPT", // an LMDB file (Mender's mender-store) is damaged or not LMDB
  "LMDB_UNSUPPORTED", // an LMDB file in a form ota does not read (big-endian, sub-databases)
  "MENDER_STORE_INVALID", // a key in Mender's store holds what Mender does not write
  "ARTIFACT_INFO_INVALID", // /etc/mender/artifact_info is missing, empty or malformed
  // Update sources (files, HTTP)
  "SOURCE_NOT_FOUND", // no such file or URL
  "SOURCE_UNSUPPORTED", // a URL scheme ota does not fetch
  "SOURCE_HTTP", // the server answered with an error status
  "SOURCE_NETWORK", // the connection failed
  "SOURCE_TLS", // the TLS handshake or certificate failed
  "SOURCE_STALLED", // no data for too long
  "SOURCE_TOO_SLOW", // slower than the minimum rate over its window
  "SOURCE_ENCODING", // the server sent a Content-Encoding (gzip) though identity was asked for
  "SOURCE_RANGE", // a resumed download got other bytes than asked for
  "SOURCE_CHANGED", // the artifact changed on the server while it was downloaded
  "SOURCE_DOWNLOAD", // a download failed after all retries
  // Adaptive updates (each falls back to downloading the whole image)
  "ADAPTIVE_INDEX_INVALID", // an adaptive artifact's block index does not fit its payload
  "ADAPTIVE_INDEX_VERSION", // an adaptive artifact's block index is of a version ota does not read
  "ADAPTIVE_INDEX_TOO_LARGE", // an adaptive artifact's block index describes more than ota takes
  "ADAPTIVE_MISMATCH", // bytes fetched or copied for an adaptive update do not match the index
  "ADAPTIVE_UNAVAILABLE", // no adaptive update here: no byte ranges, or no readable running slot
  // The update life (install, commit, rollback)
  "UPDATE_IN_PROGRESS", // another update has not finished
  "UPDATE_PENDING", // the bootloader has an update pending that ota did not start
  "UPDATE_FAILED", // an update failed and was rolled back
  "DOWNLOAD_FAILED", // the download state failed
  "INTERRUPTED", // a power cut or kill ended an update
  "DEPLOYMENT_ABORTED", // the server aborted the deployment (managed mode)
  "NOT_REBOOTED", // the device has not booted the new slot
  "COMMIT_IMPOSSIBLE", // nothing to commit
  "ROLLBACK_IMPOSSIBLE", // nothing to roll back, or the payload cannot
  "ROLLBACK_FAILED", // rolling back did not succeed
  "ROLLED_BACK", // the bootloader went back to the old slot
  "ROLLED_BACK_BY_USER", // a rollback was asked for before commit
  "SCRIPT_FAILED", // a state script exited non-zero
  "SCRIPT_TIMEOUT", // a state script ran too long
  "SCRIPT_VERSION", // the state scripts' version is not supported
  // Managed mode (the daemon and the server)
  "SERVER_NETWORK", // the server could not be reached
  "SERVER_HTTP", // the server answered a device API call with an error status
  "SERVER_UNREACHABLE", // a report the server must get before the commit did not arrive
  "AUTH_PENDING", // the server has not accepted this device (yet)
  "AUTH_FAILED", // the server refused the authentication request for another reason
  "IDENTITY_FAILED", // the identity script failed or printed no identity
  "DEPLOYMENT_INVALID", // the server offered a deployment that cannot be installed
  "REBOOT_FAILED", // the reboot command failed
  "STOPPED", // the daemon was asked to stop during a step
  "DAEMON_RUNNING", // a daemon already runs on this data directory
  "DAEMON_NOT_RUNNING", // no daemon answers on this data directory
  "DBUS_FAILED", // the system D-Bus could not be reached, or refused a call
  // Root file system and boot environment
  "ROOTFS_PAYLOAD", // the rootfs-image payload is not one image file
  "ROOTFS_TOO_LARGE", // the image does not fit the inactive partition
  "PARTITION_INVALID", // a configured partition is unusable
  "ACTIVE_PARTITION_UNKNOWN", // the running root partition cannot be told
  "BOOTENV_READ", // fw_printenv or grub-editenv failed to read
  "BOOTENV_WRITE", // fw_setenv or grub-editenv failed to write
  "BOOTENV_MISMATCH", // the boot environment and the running system disagree
  "BOOTENV_LOCKED", // another program holds the GRUB environment's lock
  // Update Modules (the protocol)
  "MODULE_UNKNOWN", // no module for the payload type
  "MODULE_MISSING", // the module file does not exist
  "MODULE_NOT_EXECUTABLE", // the module file cannot be run
  "MODULE_FAILED", // the module exited non-zero
  "MODULE_TIMEOUT", // the module ran too long
  "MODULE_OUTPUT", // the module printed more than allowed
  "MODULE_ANSWER", // the module answered a query with something unknown
  "MODULE_FIFO", // the streaming FIFO could not be made
  "MODULE_STREAM", // the module stopped reading a streamed payload file
  "MODULE_STATE_FAILED", // a module state run by hand failed
  "MODULE_META_DATA", // the payload meta-data is not valid JSON
  "OUTPUT_LIMIT", // a program printed more than the caller keeps
  // Peers and serving
  "PEER_NONE", // no peer found
  "PEER_NO_ARTIFACT", // no peer offers a fitting artifact
  "PEER_AMBIGUOUS", // several artifacts fit
  "PEER_BAD_NAME", // a peer offered a file name that is not safe
  "PEER_BUSY", // the peer is at its transfer limit
  "PEER_CHECKSUM", // a peer sent bytes that do not match
  "PEER_DISK_LIMIT", // the download would exceed the disk space allowed
  "PEER_DOWNLOAD_FAILED", // every peer failed
  "SERVE_DIR", // the directory to serve cannot be read
  "SERVE_LISTEN", // the server cannot listen
  // The directory module
  "DIRECTORY_DEST", // the destination is missing or unsafe
  "DIRECTORY_PAYLOAD", // the payload is not one tar file
  "DIRECTORY_UNPACK", // tar could not unpack the payload
  "DIRECTORY_JOURNAL", // the module's journal is damaged
  "DIRECTORY_NOT_INSTALLED", // nothing was installed to commit or roll back
  "DIRECTORY_COMMITTED", // the update was already committed
  // The docker module
  "DOCKER_ENGINE", // docker or podman failed
  "DOCKER_META_DATA", // the payload meta-data is wrong
  "DOCKER_NOT_INSTALLED", // nothing was installed to commit
  "DOCKER_NOT_RUNNING", // the new container is not running
  "DOCKER_ROLLBACK", // the old container could not be restored
  "DOCKER_STATE", // the module's state file is damaged
  // The DFU module
  "DFU_META_DATA", // the payload meta-data is wrong
  "DFU_CONFIG", // the module's configuration is wrong
  "DFU_PAYLOAD", // the payload is not one firmware file
  "DFU_NO_DEVICE", // no board found
  "DFU_AMBIGUOUS_DEVICE", // several boards match
  "DFU_ALT", // the board has no such alternate setting
  "DFU_ADDRESS", // the firmware address is outside the board's memory
  "DFU_TOO_LARGE", // the firmware does not fit
  "DFU_DEVICE_LOST", // the board went away during a transfer
  "DFU_TIMEOUT", // dfu-util ran too long
  "DFU_UTIL_MISSING", // dfu-util is not installed
  "DFU_UTIL_FAILED", // dfu-util failed
  "DFU_NO_BACKUP", // no backup of the old firmware to roll back to
  "DFU_NOT_BOOTED", // the board did not come back with the new firmware
  "DFU_VERSION_MISMATCH", // the board does not report or hold the new firmware
] as const;

/** A stable, upper-case identifier of a failure, e.g. `CHECKSUM_MISMATCH`. */
export type ErrorCode = typeof ERROR_CODES[number];

const known: ReadonlySet<string> = new Set(ERROR_CODES);

/** True when `code` is one of {@link ERROR_CODES} (for codes read back from a file). */
export function isErrorCode(code: string): code is ErrorCode {
  return known.has(code);
}

export class OtaError extends Error {
  override readonly name = "OtaError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly exitCode: ExitCode = ExitCode.failed,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Throws an {@link OtaError}; reads well in guard clauses. */
export function fail(code: ErrorCode, message: string, options?: { cause?: unknown }): never {
  throw new OtaError(code, message, ExitCode.failed, options);
}

/** True when `error` is an {@link OtaError}, optionally with the given code. */
export function isOtaError(error: unknown, code?: ErrorCode): error is OtaError {
  return error instanceof OtaError && (code === undefined || error.code === code);
}

/**
 * Wraps anything thrown by a dependency (a tar library, zlib, JSON.parse) into an
 * {@link OtaError} with our code, keeping an existing OtaError as it is.
 */
export function asOtaError(error: unknown, code: ErrorCode, what: string): OtaError {
  if (error instanceof OtaError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new OtaError(code, `${what}: ${detail}`, ExitCode.failed, { cause: error });
}
