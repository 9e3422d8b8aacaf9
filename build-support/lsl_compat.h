/* Force-included into every C++ file of the bundled liblsl build (see
 * .cargo/config.toml). The Boost copy inside liblsl 1.14 uses
 * PTHREAD_STACK_MIN as a compile-time constant, which glibc >= 2.34 no longer
 * provides; this header replaces it with a constant of the usual value. */
#ifndef NEUROSPEAK_LSL_COMPAT_H
#define NEUROSPEAK_LSL_COMPAT_H
#include <limits.h>
#include <pthread.h>
#undef PTHREAD_STACK_MIN
#define PTHREAD_STACK_MIN 16384
#endif
