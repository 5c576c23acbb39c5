/*
 * What zstd needs from a C library, for a freestanding WebAssembly build (no libc, no
 * emscripten). zstd_deps.h guards each group of its dependencies with a ZSTD_DEPS_* macro so
 * that a build without libc can supply its own: this header is included before every source
 * file (clang -include) and defines all of them, so zstd_deps.h adds nothing.
 */
#ifndef OTA_ZSTD_WASM_DEPS_H
#define OTA_ZSTD_WASM_DEPS_H

#include <limits.h> /* clang's own freestanding headers */
#include <stddef.h>
#include <stdint.h>

/* libc.c */
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *malloc(size_t n);
void *calloc(size_t count, size_t size);
void free(void *p);

#define ZSTD_DEPS_COMMON
#define ZSTD_memcpy(d, s, l) __builtin_memcpy((d), (s), (l))
#define ZSTD_memmove(d, s, l) __builtin_memmove((d), (s), (l))
#define ZSTD_memset(p, v, l) __builtin_memset((p), (v), (l))

#define ZSTD_DEPS_MALLOC
#define ZSTD_malloc(s) malloc(s)
#define ZSTD_calloc(n, s) calloc((n), (s))
#define ZSTD_free(p) free((p))

#define ZSTD_DEPS_MATH64
#define ZSTD_div64(dividend, divisor) ((dividend) / (divisor))

/* Built with DEBUGLEVEL 0: zstd asks for neither assert() nor printing. */
#define ZSTD_DEPS_ASSERT
#define ZSTD_DEPS_IO
#define ZSTD_DEPS_STDINT

#endif
