/* The virtual board's shared parts: DFU constants, its configuration and its state. */
#ifndef DFU_BOARD_H
#define DFU_BOARD_H
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

struct config {
  const char *state, *udc, *name, *serial;
  unsigned vid, pid, dfu_pid, memory, transfer, dfuse_base;
  int dfuse, upload;
};

extern struct config cfg;
/* The flash (cfg.memory bytes) and the version of the image that booted. */
extern uint8_t *flash;
extern char version[33];
/* The USB side: ep0 of the FunctionFS instance, run-time or DFU mode, DFU state. */
extern int ep0, runtime, dfu_state, dfu_status, debug;
extern unsigned dn_offset, dn_total, dfuse_pointer, up_offset;
extern int dnload_started, leave_pending, reboot_pending, dfuse_busy;
extern long long vanish_return_at, hang_until;

/* dfu_board.c: the gadget */
void die(const char *fmt, ...);
long long now_ms(void);
void unbind(void);
void bind(int want_runtime);
void boot(void);

/* flash.c: the flash file, the state files, faults, the boot check */
void write_file(const char *path, const void *data, size_t len);
void write_str(const char *path, const char *s);
void state_path(char *out, size_t n, const char *leaf);
void set_status(const char *s);
void save_flash(void);
void load_flash(void);
int fault(const char *key, char *value, size_t n, int consume);
int bootable(void);

/* requests.c: DFU and DfuSe class requests on ep0 */
void setup(const struct usb_ctrlrequest *r);

#endif
