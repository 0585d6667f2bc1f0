// glibc compatibility for libdrmaa.so: the library must load on glibc 2.28 (RHEL 8) although it is
// built against a newer glibc (Debian 12: 2.36).
//
// A program linked against glibc N references every symbol at its *newest* version in glibc N:
// `pthread_create@GLIBC_2.34` (the pthread functions moved from libpthread into libc in 2.34),
// `exp@GLIBC_2.29` (new exp/log without the old error-handling wrappers), `stat@GLIBC_2.33` (stat was
// an inline call to `__xstat` before), `hypotf@GLIBC_2.35`, ... The dynamic loader of an older glibc
// refuses such a library. glibc keeps every old version of a symbol, so each of these has an older
// twin with the same behaviour; this file binds to it.
//
// How: each symbol is defined below as a hidden function of the same name that calls the old
// version through a `.symver` alias (`compat_<symbol>` -> `<symbol>@<old version>`). The linker
// resolves every reference to `<symbol>` -- ours and those inside the statically linked Swift
// runtime and libdispatch -- to the definition in the library's own objects rather than to libc's,
// and hidden visibility keeps it out of the library's exports, so the host program's own calls never
// come here. (`--wrap=<symbol>` does not work for this: GNU ld 2.40 wraps the versioned reference
// `<symbol>@<old version>` too, and the wrapper ends up calling itself.) `make check-glibc` fails if
// any symbol newer than GLIBC_2.28 remains.
//
// The old versions of the former libpthread/libdl symbols live in libpthread.so.0 and libdl.so.2 on
// glibc < 2.34 (libc.so.6 only since 2.34), so `make lib` also records those two libraries as
// needed (on glibc >= 2.34 they are empty stubs, still installed for exactly this).
//
// Only `make lib` defines DRMAA_GLIBC_COMPAT; everywhere else (the Swift packages, tests, examples,
// debug builds of the library) this file is empty and the host's glibc is used directly.
// x86_64 only: the versions below are x86_64's (other architectures start at other base versions).
#if defined(DRMAA_GLIBC_COMPAT) && defined(__linux__) && defined(__x86_64__)

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include <fcntl.h>

// Hidden: the definitions serve this library's own references only and are never exported (not
// even to the libstdc++ and libgcc_s the library is linked with, which reference some of them).
#define HIDDEN __attribute__((visibility("hidden")))

struct stat;
struct timespec;
typedef union { char size[32]; long align; } compat_sem_t;

// GLIBC_COMPAT(return type, symbol, old version, (parameters), (arguments)): defines `<symbol>` as
// a call of `<symbol>@<old version>`.
// GLIBC_COMPAT_DECLARE declares both and leaves the definition to the code after it.
#define GLIBC_COMPAT_DECLARE(ret, name, version, params)                   \
    extern ret compat_##name params;                                       \
    __asm__(".symver compat_" #name ", " #name "@" version);               \
    HIDDEN ret name params;
#define GLIBC_COMPAT(ret, name, version, params, args)                     \
    GLIBC_COMPAT_DECLARE(ret, name, version, params)                       \
    ret name params { return compat_##name args; }

// --- libpthread (libc since 2.34; pthread_sigmask, pthread_get*_np since 2.32) ---
GLIBC_COMPAT(int, pthread_create, "GLIBC_2.2.5",
             (void *thread, const void *attr, void *(*start)(void *), void *arg), (thread, attr, start, arg))
GLIBC_COMPAT(int, pthread_detach, "GLIBC_2.2.5", (unsigned long thread), (thread))
GLIBC_COMPAT(int, pthread_key_create, "GLIBC_2.2.5", (unsigned *key, void (*destructor)(void *)), (key, destructor))
GLIBC_COMPAT(int, pthread_setspecific, "GLIBC_2.2.5", (unsigned key, const void *value), (key, value))
// The 2.2.5 pthread_kill returns ESRCH for a thread that has already exited but is not yet joined
// (the 2.34 one returns 0); libdispatch signals only its own live threads.
GLIBC_COMPAT(int, pthread_kill, "GLIBC_2.2.5", (unsigned long thread, int sig), (thread, sig))
GLIBC_COMPAT(int, pthread_mutexattr_init, "GLIBC_2.2.5", (void *attr), (attr))
GLIBC_COMPAT(int, pthread_mutexattr_destroy, "GLIBC_2.2.5", (void *attr), (attr))
GLIBC_COMPAT(int, pthread_mutexattr_settype, "GLIBC_2.2.5", (void *attr, int type), (attr, type))
GLIBC_COMPAT(int, pthread_attr_getstack, "GLIBC_2.2.5", (const void *attr, void **addr, size_t *size), (attr, addr, size))
GLIBC_COMPAT(int, pthread_getattr_np, "GLIBC_2.2.5", (unsigned long thread, void *attr), (thread, attr))
GLIBC_COMPAT(int, pthread_getaffinity_np, "GLIBC_2.3.4", (unsigned long thread, size_t size, void *set), (thread, size, set))
GLIBC_COMPAT(int, pthread_setname_np, "GLIBC_2.12", (unsigned long thread, const char *name), (thread, name))
GLIBC_COMPAT(int, pthread_sigmask, "GLIBC_2.2.5", (int how, const void *set, void *old), (how, set, old))
GLIBC_COMPAT(int, sem_init, "GLIBC_2.2.5", (compat_sem_t *sem, int shared, unsigned value), (sem, shared, value))
GLIBC_COMPAT(int, sem_destroy, "GLIBC_2.2.5", (compat_sem_t *sem), (sem))
GLIBC_COMPAT(int, sem_post, "GLIBC_2.2.5", (compat_sem_t *sem), (sem))
GLIBC_COMPAT(int, sem_wait, "GLIBC_2.2.5", (compat_sem_t *sem), (sem))
GLIBC_COMPAT(int, sem_timedwait, "GLIBC_2.2.5", (compat_sem_t *sem, const struct timespec *deadline), (sem, deadline))

// sem_open is variadic (mode and value follow only with O_CREAT), so it is written out.
GLIBC_COMPAT_DECLARE(compat_sem_t *, sem_open, "GLIBC_2.2.5", (const char *name, int flags, ...))
HIDDEN compat_sem_t *sem_open(const char *name, int flags, ...) {
    if (!(flags & O_CREAT)) return compat_sem_open(name, flags);
    va_list list;
    va_start(list, flags);
    mode_t mode = va_arg(list, mode_t);
    unsigned value = va_arg(list, unsigned);
    va_end(list);
    return compat_sem_open(name, flags, mode, value);
}

// --- libdl (libc since 2.34) ---
GLIBC_COMPAT(void *, dlopen, "GLIBC_2.2.5", (const char *file, int mode), (file, mode))
GLIBC_COMPAT(void *, dlsym, "GLIBC_2.2.5", (void *handle, const char *name), (handle, name))
GLIBC_COMPAT(char *, dlerror, "GLIBC_2.2.5", (void), ())
GLIBC_COMPAT(int, dladdr, "GLIBC_2.2.5", (const void *address, void *info), (address, info))

// --- libm: exp, exp2, log, log2 got new versions in 2.29 (no SVID error-handling wrapper; same
// results), hypotf in 2.35; the old ones are the implementations before. ---
GLIBC_COMPAT(double, exp, "GLIBC_2.2.5", (double x), (x))
GLIBC_COMPAT(double, exp2, "GLIBC_2.2.5", (double x), (x))
GLIBC_COMPAT(double, log, "GLIBC_2.2.5", (double x), (x))
GLIBC_COMPAT(double, log2, "GLIBC_2.2.5", (double x), (x))
GLIBC_COMPAT(float, hypotf, "GLIBC_2.2.5", (float x, float y), (x, y))

// --- stat, fstat, lstat, fstatat: exported functions only since 2.33; before, <sys/stat.h> turned them into
// calls of __xstat & co. with the struct layout version (_STAT_VER, 1 on x86_64), which every
// glibc still exports. ---
extern int compat___xstat(int version, const char *path, struct stat *buffer);
extern int compat___fxstat(int version, int fd, struct stat *buffer);
extern int compat___lxstat(int version, const char *path, struct stat *buffer);
extern int compat___fxstatat(int version, int directory, const char *path, struct stat *buffer, int flags);
__asm__(".symver compat___xstat, __xstat@GLIBC_2.2.5");
__asm__(".symver compat___fxstat, __fxstat@GLIBC_2.2.5");
__asm__(".symver compat___lxstat, __lxstat@GLIBC_2.2.5");
__asm__(".symver compat___fxstatat, __fxstatat@GLIBC_2.4");
#define COMPAT_STAT_VER 1
#define GLIBC_COMPAT_STAT(ret, name, params, call)                            \
    HIDDEN ret name params;                                                          \
    ret name params { return call; }
GLIBC_COMPAT_STAT(int, stat, (const char *path, struct stat *buffer), compat___xstat(COMPAT_STAT_VER, path, buffer))
GLIBC_COMPAT_STAT(int, fstat, (int fd, struct stat *buffer), compat___fxstat(COMPAT_STAT_VER, fd, buffer))
GLIBC_COMPAT_STAT(int, lstat, (const char *path, struct stat *buffer), compat___lxstat(COMPAT_STAT_VER, path, buffer))
GLIBC_COMPAT_STAT(int, fstatat, (int directory, const char *path, struct stat *buffer, int flags),
                  compat___fxstatat(COMPAT_STAT_VER, directory, path, buffer, flags))

// --- libstdc++: std::__throw_bad_array_new_length() is GLIBCXX_3.4.29 (GCC 11); the Swift runtime's
// C++ (`new T[n]`) references it, and RHEL 8 (GCC 8) and Debian 11 (GCC 10) do not have it. It throws
// std::bad_array_new_length, a std::bad_alloc; this throws the std::bad_alloc of every libstdc++. ---
HIDDEN __attribute__((noreturn)) void _ZSt28__throw_bad_array_new_lengthv(void);
extern __attribute__((noreturn)) void _ZSt17__throw_bad_allocv(void);
HIDDEN void _ZSt28__throw_bad_array_new_lengthv(void) { _ZSt17__throw_bad_allocv(); }

#endif
