/* For xxhash.h, which includes <string.h> itself; the functions live in ../libc.c. */
#include "../deps.h"
