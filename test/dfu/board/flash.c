/* The board's flash (a file), its status file, injected faults and the boot check. */
#include "board.h"

void write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open %s", path);
  if (len && write(fd, data, len) != (ssize_t)len) die("write %s", path);
  close(fd);
}

void write_str(const char *path, const char *s) { write_file(path, s, strlen(s)); }

void state_path(char *out, size_t n, const char *leaf) {
  snprintf(out, n, "%s/%s", cfg.state, leaf);
}

void set_status(const char *s) {
  char p[512], tmp[512];
  state_path(p, sizeof p, "status");
  state_path(tmp, sizeof tmp, "status.tmp");
  write_str(tmp, s);
  rename(tmp, p);
}

void save_flash(void) {
  char p[512];
  state_path(p, sizeof p, "flash.bin");
  write_file(p, flash, cfg.memory);
}

void load_flash(void) {
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

/* Returns the value of "key=" in STATE/faults (and removes that line when consume is set). */
int fault(const char *key, char *value, size_t n, int consume) {
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

static uint32_t crc32(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffff;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c;
}

/* True when the flash holds an image the board can boot; fills `version`. */
int bootable(void) {
  if (fault("refuse-boot", NULL, 0, 0)) return 0;
  if (cfg.memory < 48 || memcmp(flash, "OTAFW1\0\0", 8) != 0) return 0;
  uint32_t len = le32toh(*(uint32_t *)(flash + 8)), crc = le32toh(*(uint32_t *)(flash + 12));
  if (len > cfg.memory - 48 || crc32(flash + 48, len) != crc) return 0;
  memcpy(version, flash + 16, 32);
  version[32] = 0;
  return version[0] != 0;
}
