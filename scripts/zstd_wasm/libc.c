/*
 * The C library a freestanding zstd needs: memcpy, memmove, memset, memcmp, and an allocator
 * over WebAssembly's linear memory.
 *
 * zstd allocates a few large blocks per stream (its context, the window, the workspace) and
 * frees them when the stream ends or a bigger frame replaces them, so a first-fit free list
 * sorted by address, merged on free, and a heap top that shrinks when its last block is freed,
 * is enough. Memory only grows (memory.grow); the embedder caps it with the memory's maximum,
 * past which malloc returns NULL and zstd reports memory_allocation.
 *
 * Compiled with -fno-builtin so that the loops here stay loops; with bulk memory the
 * __builtin_* calls become memory.copy and memory.fill instructions.
 */
#include "deps.h"

#define ALIGN 16
#define HEADER 16 /* a block's size, then (free blocks only) the next free block */
#define PAGE 65536
#define MIN_SPLIT 64

typedef struct Block {
  size_t size; /* bytes, header included, a multiple of ALIGN */
  struct Block *next;
} Block;

extern unsigned char __heap_base;

static Block *free_list; /* ascending addresses, no two adjacent */
static uintptr_t top;    /* end of the heap in use */
static uintptr_t end;    /* end of the memory */

static uintptr_t align_up(uintptr_t n) { return (n + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1); }

static void init(void) {
  if (end) return;
  top = align_up((uintptr_t)&__heap_base);
  end = (uintptr_t)__builtin_wasm_memory_size(0) * PAGE;
}

/* Grows the memory to hold `want` bytes; 0 when the maximum is reached. */
static int reserve(uintptr_t want) {
  if (want <= end) return 1;
  size_t pages = (want - end + PAGE - 1) / PAGE;
  if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
  end += pages * PAGE;
  return 1;
}

void *malloc(size_t n) {
  init();
  if (n > SIZE_MAX / 2) return NULL;
  size_t size = align_up(n + HEADER);
  for (Block **link = &free_list; *link; link = &(*link)->next) {
    Block *b = *link;
    if (b->size < size) continue;
    if (b->size - size >= MIN_SPLIT) {
      Block *rest = (Block *)((uintptr_t)b + size);
      rest->size = b->size - size;
      rest->next = b->next;
      *link = rest;
      b->size = size;
    } else {
      *link = b->next;
    }
    return (unsigned char *)b + HEADER;
  }
  if (size > SIZE_MAX - top || !reserve(top + size)) return NULL;
  Block *b = (Block *)top;
  b->size = size;
  top += size;
  return (unsigned char *)b + HEADER;
}

void *calloc(size_t count, size_t size) {
  if (size && count > SIZE_MAX / 2 / size) return NULL;
  void *p = malloc(count * size);
  if (p) __builtin_memset(p, 0, count * size);
  return p;
}

void free(void *p) {
  if (!p) return;
  Block *b = (Block *)((unsigned char *)p - HEADER);
  Block *prev = NULL, *next = free_list;
  while (next && next < b) {
    prev = next;
    next = next->next;
  }
  if (next && (uintptr_t)b + b->size == (uintptr_t)next) {
    b->size += next->size;
    next = next->next;
  }
  b->next = next;
  if (prev && (uintptr_t)prev + prev->size == (uintptr_t)b) {
    prev->size += b->size;
    prev->next = b->next;
    b = prev;
  } else if (prev) {
    prev->next = b;
  } else {
    free_list = b;
  }
  /* The last block freed: give it back to the top, so a bigger block can grow in place. */
  if (!b->next && (uintptr_t)b + b->size == top) {
    top = (uintptr_t)b;
    if (free_list == b) {
      free_list = NULL;
    } else {
      Block *last = free_list;
      while (last->next != b) last = last->next;
      last->next = NULL;
    }
  }
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
  __builtin_memcpy(dst, src, n);
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  __builtin_memmove(dst, src, n);
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  __builtin_memset(dst, c, n);
  return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (; n; n--, x++, y++) {
    if (*x != *y) return *x - *y;
  }
  return 0;
}
