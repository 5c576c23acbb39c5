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
#include "board.h"

struct config cfg = {.vid = 0x1209, .pid = 0x0ad0, .dfu_pid = 0, .memory = 65536,
                     .transfer = 1024, .upload = 1, .serial = "BOARD-0001"};
uint8_t *flash;
char version[33];
int ep0 = -1, runtime, dfu_state = dfuIDLE, dfu_status = OK, debug;
unsigned dn_offset, dn_total, dfuse_pointer, up_offset;
int dnload_started, leave_pending, reboot_pending, dfuse_busy;
long long vanish_return_at = -1, hang_until = -1;

static char gadget[256], ffs_dir[256];
static volatile sig_atomic_t stopping;

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

void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "dfu_board: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, ": %s\n", strerror(errno));
  va_end(ap);
  exit(1);
}

long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

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

void unbind(void) {
  gadget_file("UDC", "\n");
  if (ep0 >= 0) close(ep0);
  ep0 = -1;
}

/* Enumerates in run-time mode (valid image) or DFU mode (bootloader). */
void bind(int want_runtime) {
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

void boot(void) {
  unbind();
  usleep(100000);
  bind(bootable());
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
