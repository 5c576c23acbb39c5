/**
 * `ota artifact cp | cat | install | rm`: files inside an artifact's root file system (or a
 * module image's payload, or a bare ext4 `.img`), with mender-artifact's `IMAGE:PATH` syntax
 * and rules: which argument is the image is told by its name, `install` needs a mode,
 * a trailing `/` names a directory, and the artifact is repacked only when it changed.
 */
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Command } from "commander";
import { fail } from "../errors.ts";
import { readFileStream } from "../files.ts";
import { looksLikeImage, parseImagePath } from "../image/image_path.ts";
import { type ImageOptions, openImage, type VirtualImage } from "../image/virtual.ts";
import { parseGoInt } from "./go_flags.ts";
import { loadSigningKey } from "./options.ts";
import { writeStdout } from "./broken_pipe.ts";

/** Opens the image named in `arg`, runs `work` on the path inside it, then closes it. */
export function withImage<T>(
  arg: string,
  options: ImageOptions,
  work: (image: VirtualImage, path: string) => Promise<T>,
): Promise<T> {
  const { image, path } = parseImagePath(arg);
  return withImageFile(image, options, (opened) => work(opened, path));
}

/** Opens `file`, runs `work`, writes the image back when it changed (or discards on failure). */
export async function withImageFile<T>(
  file: string,
  options: ImageOptions,
  work: (image: VirtualImage) => Promise<T>,
): Promise<T> {
  const image = await openImage(file, options);
  let result: T;
  try {
    result = await work(image);
  } catch (error) {
    await image.discard();
    throw error;
  }
  const unsigned = image.losesSignature();
  await image.close();
  if (unsigned) {
    process.stderr.write(`ota: warning: ${file} was signed; it is now unsigned (sign with -k)\n`);
  }
  return result;
}

/** A temporary file that is removed on disposal. */
async function tempFile(name: string): Promise<{ path: string } & AsyncDisposable> {
  const dir = await fs.mkdtemp(join(tmpdir(), "ota-file-"));
  return {
    path: join(dir, name),
    [Symbol.asyncDispose]: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

async function toStdout(path: string): Promise<void> {
  for await (const chunk of readFileStream(path)) await writeStdout(chunk);
}

function imageOptions(o: { key?: string }): ImageOptions {
  return { signingKey: o.key ? loadSigningKey(o.key) : undefined };
}

function argCount(args: string[], want: number): void {
  if (args.length !== want) {
    fail("BAD_ARGUMENTS", `got ${args.length} argument(s), wants ${want === 1 ? "one" : "two"}`);
  }
}

export function artifactCpCommand(): Command {
  return new Command("cp")
    .description("copy a file into or out of an artifact's root file system (or payload)")
    .argument("<src>", "host file, '-' for stdin, or IMAGE:PATH")
    .argument("<dst>", "IMAGE:PATH or host file")
    .option("-k, --key <file>", "PEM private key to sign the changed artifact with")
    .option("--compression <kind>", "ignored, as by mender-artifact (use modify to change it)")
    .addHelpText(
      "after",
      `
Examples:
  ota artifact cp release-2.mender:/etc/mender/mender.conf mender.conf
  ota artifact cp mender.conf release-2.mender:/etc/mender/mender.conf
  echo "device_type=board" | ota artifact cp - release-2.mender:/etc/device_type
  ota artifact cp -k signing.key app.conf app-1.mender:app.conf   (a module image's file)`,
    )
    .action(async (src: string, dst: string, o: { key?: string; compression?: string }) => {
      if (o.compression) {
        process.stderr.write(
          "ota: warning: cp keeps the artifact's compression; change it with modify\n",
        );
      }
      if (src === "-") {
        if (!looksLikeImage(dst)) fail("IMAGE_PATH", "no artifact or image given (IMAGE:PATH)");
        await using input = await tempFile("stdin");
        const handle = await fs.open(input.path, "w", 0o600);
        try {
          for await (const chunk of process.stdin) await handle.write(chunk as Uint8Array);
        } finally {
          await handle.close();
        }
        await withImage(dst, imageOptions(o), (image, path) => image.copyIn(input.path, path));
      } else if (looksLikeImage(src)) {
        await withImage(src, imageOptions(o), (image, path) => image.copyOut(path, dst));
      } else if (looksLikeImage(dst)) {
        const stat = await fs.stat(src).catch((error) =>
          fail("FILE_READ", `cannot read ${src}: ${(error as Error).message}`)
        );
        if (!stat.isFile()) fail("FILE_READ", `${src} is not a file; cp copies one file`);
        await withImage(dst, imageOptions(o), (image, path) => image.copyIn(src, path));
      } else {
        fail("IMAGE_PATH", "no artifact or image given: one argument must be IMAGE:PATH");
      }
    });
}

export function artifactCatCommand(): Command {
  return new Command("cat")
    .description("print a file from an artifact's root file system (or payload)")
    .argument("<image:path>", "e.g. release-2.mender:/etc/os-release")
    .addHelpText(
      "after",
      `
Examples:
  ota artifact cat release-2.mender:/etc/os-release
  ota artifact cat release-2.mender:/etc/mender/mender.conf | jq .ServerURL
  ota artifact cat app-1.mender:app.conf   (a module image's payload file)`,
    )
    .action(async (arg: string) => {
      if (!looksLikeImage(arg)) fail("IMAGE_PATH", `${arg} does not name an artifact or image`);
      await withImage(arg, {}, async (image, path) => {
        await using file = await image.readable(path);
        await toStdout(file.file);
      });
    });
}

export function artifactInstallCommand(): Command {
  return new Command("install")
    .description("install a host file with a mode, or make a directory, inside an artifact")
    .argument("<args...>", "-m MODE HOSTFILE IMAGE:PATH, or -d IMAGE:DIR")
    .option("-m, --mode <mode>", "permission bits: 0755 (octal), 0x1ed, or decimal")
    .option("-d, --directory", "create a directory (and its parents)")
    .option("-k, --key <file>", "PEM private key to sign the changed artifact with")
    .addHelpText(
      "after",
      `
Examples:
  ota artifact install -m 0755 hello release-2.mender:/usr/bin/hello
  ota artifact install -m 0600 server.key release-2.mender:/etc/ssl/private/server.key
  ota artifact install -d release-2.mender:/opt/app/data`,
    )
    .action(async (args: string[], o: { mode?: string; directory?: boolean; key?: string }) => {
      if (o.directory) {
        argCount(args, 1);
        if (!looksLikeImage(args[0]!)) fail("IMAGE_PATH", "no artifact or image given");
        await withImage(args[0]!, imageOptions(o), (image, path) => image.makeDir(path));
        return;
      }
      argCount(args, 2);
      const [host, target] = args as [string, string];
      if (looksLikeImage(host) || !looksLikeImage(target)) {
        fail("IMAGE_PATH", "install copies a host file INTO an image: HOSTFILE IMAGE:PATH");
      }
      const mode = o.mode === undefined ? 0 : parseGoInt(o.mode, "-m");
      if (mode === 0) {
        fail("BAD_ARGUMENTS", "install needs a mode (-m 0755); to copy as it is, use cp");
      }
      await using copy = await tempFile(host.split("/").pop() || "file");
      await fs.copyFile(host, copy.path).catch((error) =>
        fail("FILE_READ", `cannot read ${host}: ${(error as Error).message}`)
      );
      await fs.chmod(copy.path, mode & 0o777);
      await withImage(target, imageOptions(o), (image, path) => {
        if (image.kind === "payload") {
          process.stderr.write(
            "ota: warning: payload files are stored with mode 0644; -m is not kept\n",
          );
        }
        return image.copyIn(copy.path, path);
      });
    });
}

export function artifactRmCommand(): Command {
  return new Command("rm")
    .description("remove a file, or a directory (trailing /), from an artifact")
    .argument("<image:path>", "e.g. release-2.mender:/etc/motd, release-2.mender:/opt/old/")
    .option("-r, --recursive", "remove a directory with its contents")
    .option("-k, --key <file>", "PEM private key to sign the changed artifact with")
    .addHelpText(
      "after",
      `
Examples:
  ota artifact rm release-2.mender:/etc/motd
  ota artifact rm -r release-2.mender:/opt/old/
  ota artifact rm app-1.mender:obsolete.bin   (a module image's payload file)`,
    )
    .action(async (arg: string, o: { recursive?: boolean; key?: string }) => {
      if (!looksLikeImage(arg)) fail("IMAGE_PATH", `${arg} does not name an artifact or image`);
      await withImage(arg, imageOptions(o), (image, path) => image.remove(path, !!o.recursive));
    });
}
