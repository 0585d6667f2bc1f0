#define _GNU_SOURCE 1
#include "include/CLocalDRM.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

extern char **environ;

int clocaldrm_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

// --- posix_spawn extensions -------------------------------------------------------------------
// posix_spawn_file_actions_addfchdir_np arrived in glibc 2.29 and ..._addclosefrom_np in 2.34; both
// are looked up at run time with dlsym (a direct reference would keep libdrmaa.so from loading on an
// older glibc; a weak one is not reliably resolved to NULL when only the version is missing).
// DRMAA_LOCAL_SPAWN_FALLBACK=1 in the environment pretends both are missing, to test the fallbacks.

typedef int (*spawn_action_fn)(posix_spawn_file_actions_t *, int);
static spawn_action_fn addfchdir_impl, addclosefrom_impl;
static int spawn_extensions_state; // 0: not looked up yet, 1: looked up (release/acquire)

static void spawn_extensions_resolve(void) {
    if (__atomic_load_n(&spawn_extensions_state, __ATOMIC_ACQUIRE)) return;
    // Racing threads look up and store the same values (atomically: no data race, also for TSan).
    spawn_action_fn with_fchdir = NULL, with_closefrom = NULL;
    const char *force = getenv("DRMAA_LOCAL_SPAWN_FALLBACK");
    if (force == NULL || strcmp(force, "1") != 0) {
#ifdef CLOCALDRM_STATIC
        // A fully static executable (the durable mode's daemon and shepherd) has no dynamic
        // symbols to look up, and carries the glibc it was built with: direct references.
        with_fchdir = posix_spawn_file_actions_addfchdir_np;
        with_closefrom = posix_spawn_file_actions_addclosefrom_np;
#else
        with_fchdir = (spawn_action_fn)dlsym(RTLD_DEFAULT, "posix_spawn_file_actions_addfchdir_np");
        with_closefrom = (spawn_action_fn)dlsym(RTLD_DEFAULT, "posix_spawn_file_actions_addclosefrom_np");
#endif
    }
    __atomic_store_n(&addfchdir_impl, with_fchdir, __ATOMIC_RELAXED);
    __atomic_store_n(&addclosefrom_impl, with_closefrom, __ATOMIC_RELAXED);
    __atomic_store_n(&spawn_extensions_state, 1, __ATOMIC_RELEASE);
}

static spawn_action_fn spawn_extension(spawn_action_fn *impl) {
    spawn_extensions_resolve();
    return __atomic_load_n(impl, __ATOMIC_RELAXED);
}

int clocaldrm_spawn_has_fchdir(void) {
    return spawn_extension(&addfchdir_impl) != NULL;
}

int clocaldrm_spawn_addfchdir(posix_spawn_file_actions_t *actions, int fd) {
    spawn_action_fn impl = spawn_extension(&addfchdir_impl);
    return impl ? impl(actions, fd) : ENOSYS;
}

/// The open descriptors >= `from`, in a malloc'ed array (NULL and *count 0 if there are
/// none; NULL and *count -1 without memory). From /proc/self/fd, else by probing every descriptor
/// below RLIMIT_NOFILE, at most the first 16384 (a limit of a million would cost a second per job).
static int *open_descriptors(int from, int *count) {
    int capacity = 64, n = 0;
    int *fds = malloc(capacity * sizeof *fds);
    if (fds == NULL) { *count = -1; return NULL; }
    DIR *dir = opendir("/proc/self/fd");
    if (dir != NULL) {
        int own = dirfd(dir);
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            char *end;
            long fd = strtol(entry->d_name, &end, 10);
            if (*end != '\0' || end == entry->d_name || fd < from || fd == own || fd > 0x7fffffff) continue;
            if (n == capacity) {
                int *grown = realloc(fds, 2 * capacity * sizeof *fds);
                if (grown == NULL) { closedir(dir); free(fds); *count = -1; return NULL; }
                fds = grown;
                capacity *= 2;
            }
            fds[n++] = (int)fd;
        }
        closedir(dir);
    } else {
        struct rlimit limit = {0};
        long last = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
            ? (long)limit.rlim_cur : 1024;
        if (last > 16384) last = 16384;
        for (long fd = from; fd < last; fd++) {
            if (fcntl((int)fd, F_GETFD) == -1) continue;
            if (n == capacity) {
                int *grown = realloc(fds, 2 * capacity * sizeof *fds);
                if (grown == NULL) { free(fds); *count = -1; return NULL; }
                fds = grown;
                capacity *= 2;
            }
            fds[n++] = (int)fd;
        }
    }
    *count = n;
    return fds;
}

int clocaldrm_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    spawn_action_fn impl = spawn_extension(&addclosefrom_impl);
    if (impl) return impl(actions, from);
    // One close action per descriptor open now. glibc's child ignores a close that fails with EBADF
    // for a descriptor below RLIMIT_NOFILE (one closed meanwhile); a descriptor another thread opens
    // between this list and the spawn is not closed, but such descriptors are normally O_CLOEXEC.
    int count;
    int *fds = open_descriptors(from, &count);
    if (count < 0) return ENOMEM;
    int result = 0;
    for (int i = 0; i < count && result == 0; i++) {
        result = posix_spawn_file_actions_addclose(actions, fds[i]);
        if (result == EBADF) result = 0; // above a lowered RLIMIT_NOFILE: no close action can reach it
    }
    free(fds);
    return result;
}

// --- Spawning without a chdir file action (glibc < 2.29) -----------------------------------------
// posix_spawn cannot change the child's directory there, and the process-wide directory of a host
// process must not change, so the child is started the way glibc's posix_spawn does it: clone with
// CLONE_VM | CLONE_VFORK on a stack of its own (the parent thread waits until the child has exec'ed
// or failed), every signal blocked until the child has reset every handler to the default (no
// handler of the host may run in a child sharing its memory), raw system calls only in the child,
// and the child's errno handed back through the shared memory.

#if defined(__x86_64__)  // the raw sigaction layout below is x86_64's; elsewhere the fallback says ENOSYS
struct fallback_spawn {
    const char *path;
    char *const *argv;
    char *const *envp;
    int streams[3];
    int directory;
    const int *close_fds; // used if close_range(2) is missing (Linux < 5.9)
    int close_count;
    volatile int error;
};

#define FALLBACK_KERNEL_SIGSET_SIZE 8 // the kernel's sigset_t: 64 signals on every Linux architecture
struct fallback_kernel_sigaction { void *handler; unsigned long flags; void *restorer; uint64_t mask; };

static int fallback_spawn_child(void *argument) {
    struct fallback_spawn *spawn = argument;
    // Default handlers; glibc's two internal signals (32, 33) ignored, as posix_spawn leaves them.
    struct fallback_kernel_sigaction standard = { .handler = SIG_DFL }, ignored = { .handler = SIG_IGN };
    for (int sig = 1; sig <= 64; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            syscall(SYS_rt_sigaction, sig, sig == 32 || sig == 33 ? &ignored : &standard, NULL,
                    FALLBACK_KERNEL_SIGSET_SIZE);
    }
    if (syscall(SYS_setpgid, 0, 0) != 0) goto fail;
    for (int stream = 0; stream < 3; stream++) {
#ifdef SYS_dup2
        if (syscall(SYS_dup2, spawn->streams[stream], stream) != stream) goto fail;
#else
        if (syscall(SYS_dup3, spawn->streams[stream], stream, 0) != stream) goto fail;  // sources are >= 3
#endif
    }
    if (syscall(SYS_fchdir, spawn->directory) != 0) goto fail;
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3, ~0U, 0) != 0)
#endif
    {
        for (int i = 0; i < spawn->close_count; i++) syscall(SYS_close, spawn->close_fds[i]);
    }
    uint64_t none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, FALLBACK_KERNEL_SIGSET_SIZE);
    syscall(SYS_execve, spawn->path, spawn->argv, spawn->envp);
fail:
    spawn->error = errno ? errno : ECHILD;
    syscall(SYS_exit, 127);
    return 127;
}

int clocaldrm_spawn_fchdir_fallback(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                                    int input, int output, int error, int directory) {
    struct fallback_spawn spawn = {
        .path = path, .argv = argv, .envp = envp,
        .streams = { input, output, error }, .directory = directory, .error = 0,
    };
    int count;
    int *fds = open_descriptors(3, &count);
    if (count < 0) return ENOMEM;
    spawn.close_fds = fds;
    spawn.close_count = count;

    const size_t stack_size = 64 * 1024;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) { int e = errno; free(fds); return e; }

    // Every signal, including glibc's internal ones that pthread_sigmask would leave out.
    uint64_t all = ~(uint64_t)0, previous = 0;
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &previous, FALLBACK_KERNEL_SIGSET_SIZE);
    pid_t child = clone(fallback_spawn_child, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &spawn);
    int clone_error = errno;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &previous, NULL, FALLBACK_KERNEL_SIGSET_SIZE);
    munmap(stack, stack_size);
    free(fds);

    if (child == -1) return clone_error;
    if (spawn.error != 0) {
        // The child exited with 127 before exec: reap it here, as posix_spawn does.
        while (waitpid(child, NULL, 0) == -1 && errno == EINTR) {}
        return spawn.error;
    }
    *pid = child;
    return 0;
}
#else
int clocaldrm_spawn_fchdir_fallback(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                                    int input, int output, int error, int directory) {
    (void)pid; (void)path; (void)argv; (void)envp; (void)input; (void)output; (void)error; (void)directory;
    return ENOSYS;
}
#endif

int clocaldrm_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int clocaldrm_epoll_add(int epfd, int fd, uint64_t token) {
    struct epoll_event event = { .events = EPOLLIN, .data.u64 = token };
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

int clocaldrm_epoll_del(int epfd, int fd) {
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
}

int clocaldrm_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < n; i++) tokens[i] = events[i].data.u64;
    return n;
}


int clocaldrm_timerfd(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK); }

int clocaldrm_timerfd_arm(int fd, int64_t monotonic_ns) {
    struct itimerspec spec = {0};
    if (monotonic_ns > 0) {
        spec.it_value.tv_sec = monotonic_ns / 1000000000;
        spec.it_value.tv_nsec = monotonic_ns % 1000000000;
    }
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

int64_t clocaldrm_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int clocaldrm_wexitstatus(int status) { return WEXITSTATUS(status); }
int clocaldrm_wifsignaled(int status) { return WIFSIGNALED(status); }
int clocaldrm_wtermsig(int status) { return WTERMSIG(status); }
int clocaldrm_wcoredump(int status) { return WCOREDUMP(status); }

char *const *clocaldrm_environ(void) { return environ; }

int clocaldrm_prlimit(pid_t pid, int resource, const struct rlimit *new_limit, struct rlimit *old_limit) {
    return prlimit(pid, (__rlimit_resource_t)resource, new_limit, old_limit);
}

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int clocaldrm_pidfd_peek(int pidfd) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    return waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG | WNOWAIT);
}

int clocaldrm_pidfd_reap(int pidfd, int *status, struct rusage *usage) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    /* The raw call: glibc's waitid() has no rusage argument. */
    if (syscall(SYS_waitid, P_PIDFD, pidfd, &info, WEXITED, usage) != 0) return -1;
    switch (info.si_code) {
    case CLD_EXITED: *status = (info.si_status & 0xff) << 8; break;   /* as wait4 reports it */
    case CLD_KILLED: *status = info.si_status & 0x7f; break;
    case CLD_DUMPED: *status = (info.si_status & 0x7f) | 0x80; break;
    default: errno = EPROTO; return -1;  /* not an exit (cannot happen with WEXITED alone) */
    }
    return 0;
}

int clocaldrm_sigchld_disposition(void) {
    struct sigaction current;
    if (sigaction(SIGCHLD, NULL, &current) != 0) return 0;
    if (current.sa_handler == SIG_IGN) return 1;
    if (current.sa_flags & SA_NOCLDWAIT) return 2;
    return 0;
}

void clocaldrm_block_all_signals(void) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
}

int clocaldrm_o_path(void) { return O_PATH; }

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static int unix_address(const char *path, struct sockaddr_un *address) {
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof(address->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(address, 0, sizeof(*address));
    address->sun_family = AF_UNIX;
    memcpy(address->sun_path, path, length + 1);
    return 0;
}

int clocaldrm_unix_listen(const char *path, int type, int backlog, unsigned mode) {
    struct sockaddr_un address;
    if (unix_address(path, &address) != 0) return -1;
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    // No umask juggling (it is process-wide, and other threads create files): the socket lives
    // in a 0700 directory, so nobody else can reach it while its mode is still the default.
    if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 || chmod(path, (mode_t)mode) != 0
        || listen(fd, backlog) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int clocaldrm_unix_connect(const char *path, int type) {
    struct sockaddr_un address;
    if (unix_address(path, &address) != 0) return -1;
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int result;
    do {
        result = connect(fd, (struct sockaddr *)&address, sizeof(address));
    } while (result != 0 && errno == EINTR);
    if (result != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int clocaldrm_unix_accept(int listener) {
    int fd;
    do {
        fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

int clocaldrm_peer_credentials(int fd, uid_t *uid, pid_t *pid) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *uid = credentials.uid;
    *pid = credentials.pid;
    return 0;
}

int clocaldrm_socketpair(int type, int fds[2]) { return socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds); }
int clocaldrm_msg_nosignal(void) { return MSG_NOSIGNAL; }
int clocaldrm_msg_dontwait(void) { return MSG_DONTWAIT; }
int clocaldrm_sock_seqpacket(void) { return SOCK_SEQPACKET; }
int clocaldrm_sock_stream(void) { return SOCK_STREAM; }

#include <sys/eventfd.h>
int clocaldrm_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

#include <malloc.h>
int clocaldrm_malloc_trim(void) { return malloc_trim(0); }

#define CLOCALDRM_MAX_PASSED 8

int clocaldrm_send_with_descriptors(int fd, const void *bytes, size_t length, const int *descriptors, int count) {
    if (count < 0 || count > CLOCALDRM_MAX_PASSED) { errno = EINVAL; return -1; }
    union { char buffer[CMSG_SPACE(sizeof(int) * CLOCALDRM_MAX_PASSED)]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct iovec vector = { .iov_base = (void *)bytes, .iov_len = length };
    struct msghdr message = { .msg_iov = &vector, .msg_iovlen = 1 };
    if (count > 0) {
        message.msg_control = control.buffer;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
        memcpy(CMSG_DATA(header), descriptors, sizeof(int) * (size_t)count);
    }
    return sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -1 : 0;
}

long clocaldrm_receive_with_descriptors(int fd, void *buffer, size_t size, int *descriptors, int capacity,
                                        int *count, int *truncated) {
    *count = 0;
    *truncated = 0;
    if (capacity < 0 || capacity > CLOCALDRM_MAX_PASSED) { errno = EINVAL; return -1; }
    union { char buffer[CMSG_SPACE(sizeof(int) * CLOCALDRM_MAX_PASSED)]; struct cmsghdr align; } control;
    struct iovec vector = { .iov_base = buffer, .iov_len = size };
    struct msghdr message = { .msg_iov = &vector, .msg_iovlen = 1, .msg_control = control.buffer,
                              .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)capacity) };
    ssize_t received = recvmsg(fd, &message, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
    if (received < 0) return -1;
    if (message.msg_flags & MSG_CTRUNC) *truncated = 1;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        size_t passed = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int *data = (int *)CMSG_DATA(header);
        for (size_t index = 0; index < passed; index++) {
            if (*count < capacity) {
                descriptors[(*count)++] = data[index];
            } else {
                close(data[index]);
                *truncated = 1;
            }
        }
    }
    return (long)received;
}

const char *clocaldrm_own_object_path(void) {
    Dl_info info;
    if (dladdr((void *)&clocaldrm_own_object_path, &info) == 0 || info.dli_fname == NULL) return NULL;
    return info.dli_fname;
}

int clocaldrm_spawnattr_clean_signals(posix_spawnattr_t *attributes, short flags) {
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int result = posix_spawnattr_setsigmask(attributes, &none);
    if (result == 0) result = posix_spawnattr_setsigdefault(attributes, &all);
    if (result == 0) result = posix_spawnattr_setflags(attributes, (short)(flags | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
    return result;
}

#include <unistd.h>
int clocaldrm_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
