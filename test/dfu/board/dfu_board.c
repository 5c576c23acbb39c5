/*
 * A virtual microcontroller for the DFU tests: a USB gadget (configfs + FunctionFS) that
 * behaves like a board with a DFU 1.1 bootloader.
 *
 *  - Its flash is a file (STATE/flash.bin, --memory bytes, 0xFF when erased).
 *  - At power-on and after every USB reset it "boots": when the flash holds a valid image
 *    (see IMAGE FORMAT) it enumerates in DFU run-time mode and names its interface
 *    "firmware <version>"; otherwise it stays in the bootloader (DFU mode).
 *  - Run-time mode answers DFU_DETACH (bitWillDetach): it drops off the bus and comes back
 *    in DFU mode.
 *  - DFU mode supports DNLOAD, UPLOAD, GETSTATUS, CLRSTATUS, GETSTATE, ABORT, and, with
 *    --dfuse ADDR, the DfuSe (STM32) variant: set-address and erase commands in block 0,
 *    data at pointer + (block - 2) * wLength, "leave" by a zero-length download.
 *  - STATE/faults (read at each download start and at boot) injects failures, one per line:
 *      refuse-boot            never boot, whatever the flash holds
 *      vanish-after=N[:MS]    drop off the bus once N bytes were downloaded; come back in the
 *                             bootloader after MS milliseconds (default: never)
 *      stall-at=N             answer the download that crosses byte N with errWRITE
 *      hang-at=N[:MS]         stop answering control requests at byte N for MS ms (30000)
 *    vanish/stall/hang fire once: the line is removed from the file when it fires.
 *  - STATE/status holds "runtime <version>", "dfu" or "gone" for the tests.
 *
 * IMAGE FORMAT: "OTAFW1\0\0", LE32 body length, LE32 CRC-32 of the body, 32 bytes of version
 * (NUL padded), then the body.
 *
 * Usage: dfu_board --state DIR --udc dummy_udc.0 --name NAME [--vid 0x1209] [--pid 0x0ad0]
 *        [--dfu-pid 0x0ad1] [--serial S] [--memory BYTES] [--transfer BYTES] [--dfuse ADDR]
 *        [--no-upload]
 * It stops cleanly (unbinds the gadget) on SIGTERM.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/usb/ch9.h>
#include <linux/usb/functionfs.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { DFU_DETACH, DFU_DNLOAD, DFU_UPLOAD, DFU_GETSTATUS, DFU_CLRSTATUS, DFU_GETSTATE, DFU_ABORT };
enum {
  appIDLE, appDETACH, dfuIDLE, dfuDNLOAD_SYNC, dfuDNBUSY, dfuDNLOAD_IDLE, dfuMANIFEST_SYNC,
  dfuMANIFEST, dfuMANIFEST_WAIT_RESET, dfuUPLOAD_IDLE, dfuERROR
};
enum { OK = 0, errTARGET = 1, errFILE = 2, errWRITE = 3, errERASE = 4, errADDRESS = 8,
       errFIRMWARE = 0x0a, errUNKNOWN = 0x0e, errSTALLEDPKT = 0x0f };

static struct {
  const char *state, *udc, *name, *serial;
  unsigned vid, pid, dfu_pid, memory, transfer, dfuse_base;
  int dfuse, upload;
} cfg = {.vid = 0x1209, .pid = 0x0ad0, .dfu_pid = 0, .memory = 65536, .transfer = 1024,
         .upload = 1, .serial = "BOARD-0001"};

static char gadget[256], ffs_dir[256];
static uint8_t *flash;
static int ep0 = -1, runtime, dfu_state = dfuIDLE, dfu_status = OK;
static unsigned dn_offset, dn_total, dfuse_pointer, up_offset;
static int dnload_started, leave_pending, reboot_pending, dfuse_busy;
static long long vanish_return_at = -1, hang_until = -1;
static char version[33];
static volatile sig_atomic_t stopping;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "dfu_board: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, ": %s\n", strerror(errno));
  va_end(ap);
  exit(1);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open %s", path);
  if (len && write(fd, data, len) != (ssize_t)len) die("write %s", path);
  close(fd);
}

static void write_str(const char *path, const char *s) { write_file(path, s, strlen(s)); }

static void state_path(char *out, size_t n, const char *leaf) {
  snprintf(out, n, "%s/%s", cfg.state, leaf);
}

static void set_status(const char *s) {
  char p[512], tmp[512];
  state_path(p, sizeof p, "status");
  state_path(tmp, sizeof tmp, "status.tmp");
  write_str(tmp, s);
  rename(tmp, p);
}

static void save_flash(void) {
  char p[512];
  state_path(p, sizeof p, "flash.bin");
  write_file(p, flash, cfg.memory);
}

static void load_flash(void) {
  char p[512];
  state_path(p, sizeof p, "flash.bin");
  flash = malloc(cfg.memory);
  memset(flash, 0xff, cfg.memory);
  int fd = open(p, O_RDONLY);
  if (fd >= 0) {
    ssize_t n = read(fd, flash, cfg.memory);
    (void)n;
    close(fd);
  }
  save_flash();
}

/* ---- faults --------------------------------------------------------------------------- */

/* Returns the value of "key=" in STATE/faults (and removes that line when consume is set). */
static int fault(const char *key, char *value, size_t n, int consume) {
  char p[512], buf[4096], out[4096] = "";
  state_path(p, sizeof p, "faults");
  FILE *f = fopen(p, "r");
  if (!f) return 0;
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[len] = 0;
  int found = 0;
  size_t klen = strlen(key);
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
    if (!found && strncmp(line, key, klen) == 0 && (line[klen] == '=' || line[klen] == 0)) {
      found = 1;
      if (value) snprintf(value, n, "%s", line[klen] == '=' ? line + klen + 1 : "");
      if (consume) continue;
    }
    strcat(out, line);
    strcat(out, "\n");
  }
  if (found && consume) write_str(p, out);
  return found;
}

/* ---- images --------------------------------------------------------------------------- */

static uint32_t crc32(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffff;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c;
}

/* True when the flash holds an image the board can boot; fills `version`. */
static int bootable(void) {
  if (fault("refuse-boot", NULL, 0, 0)) return 0;
  if (cfg.memory < 48 || memcmp(flash, "OTAFW1\0\0", 8) != 0) return 0;
  uint32_t len = le32toh(*(uint32_t *)(flash + 8)), crc = le32toh(*(uint32_t *)(flash + 12));
  if (len > cfg.memory - 48 || crc32(flash + 48, len) != crc) return 0;
  memcpy(version, flash + 16, 32);
  version[32] = 0;
  return version[0] != 0;
}

/* ---- the gadget ----------------------------------------------------------------------- */

static void gadget_file(const char *leaf, const char *value) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", gadget, leaf);
  int fd = open(p, O_WRONLY);
  if (fd < 0) die("open %s", p);
  if (write(fd, value, strlen(value)) < 0 && strcmp(leaf, "UDC") != 0) die("write %s", p);
  close(fd);
}

static void make_gadget(void) {
  char p[512];
  snprintf(gadget, sizeof gadget, "/sys/kernel/config/usb_gadget/%s", cfg.name);
  snprintf(ffs_dir, sizeof ffs_dir, "/run/dfu-board/%s", cfg.name);
  mkdir(gadget, 0755);
  snprintf(p, sizeof p, "%s/strings/0x409", gadget);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/configs/c.1", gadget);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/configs/c.1/strings/0x409", gadget);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/functions/ffs.%s", gadget, cfg.name);
  if (mkdir(p, 0755) < 0 && errno != EEXIST) die("mkdir %s", p);
  char link[512];
  snprintf(link, sizeof link, "%s/configs/c.1/ffs.%s", gadget, cfg.name);
  if (symlink(p, link) < 0 && errno != EEXIST) die("symlink %s", link);
  gadget_file("strings/0x409/manufacturer", "ota test bench");
  gadget_file("strings/0x409/serialnumber", cfg.serial);
  gadget_file("configs/c.1/strings/0x409/configuration", "DFU");
  gadget_file("bcdUSB", "0x0200");
  mkdir("/run/dfu-board", 0755);
  mkdir(ffs_dir, 0755);
  if (mount(cfg.name, ffs_dir, "functionfs", 0, NULL) < 0 && errno != EBUSY)
    die("mount functionfs %s", ffs_dir);
}

struct __attribute__((packed)) dfu_functional {
  uint8_t bLength, bDescriptorType, bmAttributes;
  uint16_t wDetachTimeOut, wTransferSize, bcdDFUVersion;
};

struct __attribute__((packed)) descs {
  struct usb_functionfs_descs_head_v2 head;
  uint32_t fs_count, hs_count;
  struct __attribute__((packed)) {
    struct usb_interface_descriptor intf;
    struct dfu_functional func;
  } fs, hs;
};

static void write_descriptors(void) {
  struct descs d = {0};
  d.head.magic = htole32(FUNCTIONFS_DESCRIPTORS_MAGIC_V2);
  d.head.length = htole32(sizeof d);
  d.head.flags = htole32(FUNCTIONFS_HAS_FS_DESC | FUNCTIONFS_HAS_HS_DESC);
  d.fs_count = d.hs_count = htole32(2);
  struct usb_interface_descriptor intf = {
      .bLength = USB_DT_INTERFACE_SIZE, .bDescriptorType = USB_DT_INTERFACE,
      .bInterfaceNumber = 0, .bAlternateSetting = 0, .bNumEndpoints = 0,
      .bInterfaceClass = 0xfe, .bInterfaceSubClass = 1, .bInterfaceProtocol = runtime ? 1 : 2,
      .iInterface = 1};
  struct dfu_functional func = {
      .bLength = sizeof func, .bDescriptorType = 0x21,
      .bmAttributes = 0x01 | (cfg.upload ? 0x02 : 0) | 0x04 | 0x08,
      .wDetachTimeOut = htole16(1000), .wTransferSize = htole16(cfg.transfer),
      .bcdDFUVersion = htole16(cfg.dfuse ? 0x011a : 0x0110)};
  d.fs.intf = d.hs.intf = intf;
  d.fs.func = d.hs.func = func;
  if (write(ep0, &d, sizeof d) < 0) die("write descriptors");

  char name[128];
  if (runtime) snprintf(name, sizeof name, "firmware %s", version);
  else if (cfg.dfuse)
    snprintf(name, sizeof name, "@Internal Flash  /0x%08x/%u*001Kg", cfg.dfuse_base,
             cfg.memory / 1024);
  else snprintf(name, sizeof name, "firmware");
  uint8_t s[256];
  struct usb_functionfs_strings_head *sh = (void *)s;
  size_t len = sizeof *sh + 2 + strlen(name) + 1;
  sh->magic = htole32(FUNCTIONFS_STRINGS_MAGIC);
  sh->length = htole32(len);
  sh->str_count = htole32(1);
  sh->lang_count = htole32(1);
  uint16_t lang = htole16(0x0409);
  memcpy(s + sizeof *sh, &lang, 2);
  strcpy((char *)s + sizeof *sh + 2, name);
  if (write(ep0, s, len) < 0) die("write strings");
}

static void unbind(void) {
  gadget_file("UDC", "\n");
  if (ep0 >= 0) close(ep0);
  ep0 = -1;
}

/* Enumerates in run-time mode (valid image) or DFU mode (bootloader). */
static void bind(int want_runtime) {
  char p[512], buf[64];
  runtime = want_runtime;
  snprintf(buf, sizeof buf, "0x%04x", cfg.vid);
  gadget_file("idVendor", buf);
  snprintf(buf, sizeof buf, "0x%04x", runtime || !cfg.dfu_pid ? cfg.pid : cfg.dfu_pid);
  gadget_file("idProduct", buf);
  gadget_file("strings/0x409/product", runtime ? "ota virtual board" : "ota virtual board DFU");
  snprintf(p, sizeof p, "%s/ep0", ffs_dir);
  ep0 = open(p, O_RDWR);
  if (ep0 < 0) die("open %s", p);
  write_descriptors();
  gadget_file("UDC", cfg.udc);
  dfu_state = runtime ? appIDLE : dfuIDLE;
  dfu_status = OK;
  dnload_started = leave_pending = reboot_pending = 0;
  dn_total = 0;
  char st[64];
  snprintf(st, sizeof st, runtime ? "runtime %s" : "dfu", version);
  set_status(st);
  fprintf(stderr, "dfu_board %s: %s\n", cfg.name, st);
}

static void boot(void) {
  unbind();
  usleep(100000);
  bind(bootable());
}

/* ---- control requests ----------------------------------------------------------------- */

static void stall(const struct usb_ctrlrequest *r) {
  /* FunctionFS stalls ep0 when the data stage goes the wrong way. */
  if (r->bRequestType & USB_DIR_IN) {
    if (read(ep0, NULL, 0) < 0 && errno != EL2HLT) perror("stall");
  } else if (write(ep0, NULL, 0) < 0 && errno != EL2HLT) perror("stall");
}

static void ack(void) {
  if (read(ep0, NULL, 0) < 0) perror("ack");
}

static void reply(const void *data, size_t len) {
  if (write(ep0, data, len) < 0) perror("reply");
}

static void fail(int status) {
  dfu_status = status;
  dfu_state = dfuERROR;
}

static void vanish(const char *spec) {
  long ms = -1;
  const char *colon = strchr(spec, ':');
  if (colon) ms = atol(colon + 1);
  fprintf(stderr, "dfu_board %s: vanishing\n", cfg.name);
  save_flash();
  unbind();
  set_status("gone");
  vanish_return_at = ms >= 0 ? now_ms() + ms : -2;
}

/* Checks the one-shot faults against the bytes downloaded so far; 1 when one fired. */
static int download_faults(unsigned upto) {
  char v[64];
  if (fault("vanish-after", v, sizeof v, 0) && upto >= (unsigned)atol(v)) {
    fault("vanish-after", NULL, 0, 1);
    vanish(v);
    return 1;
  }
  if (fault("stall-at", v, sizeof v, 0) && upto >= (unsigned)atol(v)) {
    fault("stall-at", NULL, 0, 1);
    fail(errWRITE);
    return 1;
  }
  if (fault("hang-at", v, sizeof v, 0) && upto >= (unsigned)atol(v)) {
    fault("hang-at", NULL, 0, 1);
    const char *colon = strchr(v, ':');
    fprintf(stderr, "dfu_board %s: hanging\n", cfg.name);
    hang_until = now_ms() + (colon ? atol(colon + 1) : 30000);
    return 1;
  }
  return 0;
}

static void dfuse_command(const uint8_t *b, unsigned len) {
  uint32_t addr = len >= 5 ? le32toh(*(uint32_t *)(b + 1)) : 0;
  if (len == 0) return;
  if (b[0] == 0x21 && len == 5) {
    if (addr < cfg.dfuse_base || addr >= cfg.dfuse_base + cfg.memory) return fail(errADDRESS);
    dfuse_pointer = addr;
  } else if (b[0] == 0x41 && len == 1) {
    memset(flash, 0xff, cfg.memory);
  } else if (b[0] == 0x41 && len == 5) {
    if (addr < cfg.dfuse_base || addr >= cfg.dfuse_base + cfg.memory) return fail(errADDRESS);
    unsigned page = (addr - cfg.dfuse_base) & ~1023u;
    memset(flash + page, 0xff, 1024 < cfg.memory - page ? 1024 : cfg.memory - page);
  } else {
    return fail(errTARGET);
  }
  dfuse_busy = 1;
}

static void dnload(const struct usb_ctrlrequest *r) {
  unsigned len = le16toh(r->wLength), block = le16toh(r->wValue);
  uint8_t buf[4096];
  if (dfu_state != dfuIDLE && dfu_state != dfuDNLOAD_IDLE) return stall(r);
  if (len > sizeof buf) return stall(r);
  if (len && read(ep0, buf, len) != (ssize_t)len) return;
  if (!len) ack();
  if (len == 0) {
    if (cfg.dfuse) leave_pending = 1; /* DfuSe: a zero-length download means "leave" */
    dfu_state = dfuMANIFEST_SYNC;
    save_flash();
    return;
  }
  if (cfg.dfuse && block == 0) {
    if (dfu_state == dfuIDLE) dn_total = 0; /* a new DfuSe download session */
    dfuse_command(buf, len);
    if (dfu_state != dfuERROR) dfu_state = dfuDNLOAD_SYNC;
    return;
  }
  unsigned offset;
  if (cfg.dfuse) {
    if (block < 2) return fail(errTARGET);
    offset = dfuse_pointer - cfg.dfuse_base + (block - 2) * cfg.transfer;
  } else {
    if (!dnload_started) {
      /* A plain DFU bootloader erases the whole application area first. */
      memset(flash, 0xff, cfg.memory);
      dn_offset = dn_total = 0;
      dnload_started = 1;
    }
    offset = dn_offset;
  }
  if (download_faults(dn_total + len)) return;
  if (offset + len > cfg.memory) {
    save_flash();
    return fail(errADDRESS);
  }
  memcpy(flash + offset, buf, len);
  dn_offset = offset + len;
  dn_total += len;
  dfu_state = dfuDNLOAD_SYNC;
  if (dn_total % (16 * 1024) < len) save_flash();
}

static void upload(const struct usb_ctrlrequest *r) {
  unsigned len = le16toh(r->wLength), block = le16toh(r->wValue);
  if (!cfg.upload || (dfu_state != dfuIDLE && dfu_state != dfuUPLOAD_IDLE)) return stall(r);
  unsigned offset;
  if (cfg.dfuse) {
    if (block == 0) {
      uint8_t cmds[] = {0x00, 0x21, 0x41};
      dfu_state = dfuUPLOAD_IDLE;
      return reply(cmds, len < sizeof cmds ? len : sizeof cmds);
    }
    if (block < 2) return stall(r);
    offset = dfuse_pointer - cfg.dfuse_base + (block - 2) * cfg.transfer;
  } else {
    if (dfu_state == dfuIDLE) up_offset = 0;
    offset = up_offset;
  }
  unsigned n = offset < cfg.memory ? cfg.memory - offset : 0;
  if (n > len) n = len;
  up_offset = offset + n;
  dfu_state = n == len ? dfuUPLOAD_IDLE : dfuIDLE;
  reply(flash + offset, n);
}

static void getstatus(const struct usb_ctrlrequest *r) {
  uint8_t st[6] = {0};
  switch (dfu_state) {
  case dfuDNLOAD_SYNC:
    if (cfg.dfuse && dfuse_busy) {
      dfu_state = dfuDNBUSY;
      dfuse_busy = 0;
    } else dfu_state = dfuDNLOAD_IDLE;
    break;
  case dfuDNBUSY: dfu_state = dfuDNLOAD_IDLE; break;
  case dfuMANIFEST_SYNC:
    if (leave_pending) {
      dfu_state = dfuMANIFEST;
      reboot_pending = 1;
    } else dfu_state = dfuIDLE; /* manifestation tolerant: done at once */
    dnload_started = 0;
    break;
  default: break;
  }
  st[0] = dfu_status;
  st[4] = dfu_state;
  if (le16toh(r->wLength) < 6) return stall(r);
  reply(st, 6);
}

static int debug;

static void setup(const struct usb_ctrlrequest *r) {
  if (debug)
    fprintf(stderr, "setup type=%02x req=%u value=%u len=%u state=%d\n", r->bRequestType,
            r->bRequest, le16toh(r->wValue), le16toh(r->wLength), dfu_state);
  if ((r->bRequestType & USB_TYPE_MASK) != USB_TYPE_CLASS) return stall(r);
  if (runtime) {
    if (r->bRequest == DFU_DETACH) {
      ack();
      reboot_pending = 2; /* bitWillDetach: drop off the bus, come back in DFU mode */
    } else if (r->bRequest == DFU_GETSTATUS) {
      uint8_t st[6] = {0, 0, 0, 0, appIDLE, 0};
      reply(st, 6);
    } else if (r->bRequest == DFU_GETSTATE) {
      uint8_t s = appIDLE;
      reply(&s, 1);
    } else stall(r);
    return;
  }
  switch (r->bRequest) {
  case DFU_DNLOAD: dnload(r); break;
  case DFU_UPLOAD: upload(r); break;
  case DFU_GETSTATUS: getstatus(r); break;
  case DFU_CLRSTATUS:
    ack();
    dfu_state = dfuIDLE;
    dfu_status = OK;
    dnload_started = 0;
    break;
  case DFU_GETSTATE: {
    uint8_t s = dfu_state;
    reply(&s, 1);
    break;
  }
  case DFU_ABORT:
    ack();
    dfu_state = dfuIDLE;
    dnload_started = 0;
    break;
  default: stall(r);
  }
}

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--state")) cfg.state = v, i++;
    else if (!strcmp(a, "--udc")) cfg.udc = v, i++;
    else if (!strcmp(a, "--name")) cfg.name = v, i++;
    else if (!strcmp(a, "--serial")) cfg.serial = v, i++;
    else if (!strcmp(a, "--vid")) cfg.vid = strtoul(v, NULL, 0), i++;
    else if (!strcmp(a, "--pid")) cfg.pid = strtoul(v, NULL, 0), i++;
    else if (!strcmp(a, "--dfu-pid")) cfg.dfu_pid = strtoul(v, NULL, 0), i++;
    else if (!strcmp(a, "--memory")) cfg.memory = strtoul(v, NULL, 0), i++;
    else if (!strcmp(a, "--transfer")) cfg.transfer = strtoul(v, NULL, 0), i++;
    else if (!strcmp(a, "--dfuse")) cfg.dfuse = 1, cfg.dfuse_base = strtoul(v, NULL, 0), i++;
    else if (!strcmp(a, "--no-upload")) cfg.upload = 0;
    else {
      fprintf(stderr, "dfu_board: unknown option %s\n", a);
      return 2;
    }
  }
  if (!cfg.state || !cfg.udc || !cfg.name) {
    fprintf(stderr, "usage: dfu_board --state DIR --udc UDC --name NAME [options]\n");
    return 2;
  }
  if (cfg.transfer > 4096) cfg.transfer = 4096;
  debug = getenv("DFU_BOARD_DEBUG") != NULL;
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  load_flash();
  make_gadget();
  bind(bootable());

  while (!stopping) {
    long long t = now_ms();
    if (vanish_return_at >= 0 && t >= vanish_return_at) {
      vanish_return_at = -1;
      memset(version, 0, sizeof version);
      bind(0); /* a board that lost power mid-flash comes back in its bootloader */
      continue;
    }
    if (ep0 < 0 || (hang_until >= 0 && t < hang_until)) {
      usleep(50000);
      continue;
    }
    if (hang_until >= 0) {
      hang_until = -1;
      boot(); /* the watchdog resets a hung board */
      continue;
    }
    struct pollfd p = {.fd = ep0, .events = POLLIN};
    if (poll(&p, 1, 200) <= 0) continue;
    struct usb_functionfs_event ev[4];
    ssize_t n = read(ep0, ev, sizeof ev);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      perror("read ep0");
      usleep(100000);
      continue;
    }
    for (ssize_t i = 0; i < n / (ssize_t)sizeof ev[0] && ep0 >= 0; i++) {
      switch (ev[i].type) {
      case FUNCTIONFS_SETUP: setup(&ev[i].u.setup); break;
      case FUNCTIONFS_DISABLE:
      case FUNCTIONFS_SUSPEND:
        /* A USB reset in DFU mode restarts the board: it boots whatever the flash holds. */
        if (!runtime && ev[i].type == FUNCTIONFS_DISABLE) reboot_pending = 1;
        break;
      default: break;
      }
      if (vanish_return_at != -1 || hang_until >= 0) break;
    }
    if (reboot_pending == 2) {
      unbind();
      usleep(100000);
      bind(0);
    } else if (reboot_pending == 1) {
      save_flash();
      boot();
    }
  }
  save_flash();
  unbind();
  set_status("gone");
  return 0;
}
