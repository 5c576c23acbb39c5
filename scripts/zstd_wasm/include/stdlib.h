/* For xxhash.h, which includes <stdlib.h> itself; the functions live in ../libc.c. */
#include "../deps.h"
