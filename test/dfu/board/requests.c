/* DFU 1.1 and DfuSe class requests, answered on ep0 of the FunctionFS instance. */
#include "board.h"

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

void setup(const struct usb_ctrlrequest *r) {
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
