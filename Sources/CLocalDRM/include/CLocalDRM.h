// Small C helpers for LocalDRM: what Swift cannot import from Glibc directly
// (GNU-only declarations, variadic syscall(), function-like macros, packed epoll_event).
#ifndef CLOCALDRM_H
#define CLOCALDRM_H

#include <spawn.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/resource.h>

/// pidfd_open(2): a file descriptor that becomes readable when `pid` exits.
int clocaldrm_pidfd_open(pid_t pid);

/// posix_spawn_file_actions_addfchdir_np: the child changes to directory `fd`.
int clocaldrm_spawn_addfchdir(posix_spawn_file_actions_t *actions, int fd);
/// posix_spawn_file_actions_addclosefrom_np: the child closes every fd >= `from`.
int clocaldrm_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/// epoll with a 64-bit token per descriptor; the wait writes at most `max` tokens.
int clocaldrm_epoll_create(void);
int clocaldrm_epoll_add(int epfd, int fd, uint64_t token);
int clocaldrm_epoll_del(int epfd, int fd);
int clocaldrm_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms);

/// timerfd(2) on CLOCK_MONOTONIC with TFD_CLOEXEC | TFD_NONBLOCK; arm with an absolute time in ns (0 disarms).
int clocaldrm_timerfd(void);
int clocaldrm_timerfd_arm(int fd, int64_t monotonic_ns);
int64_t clocaldrm_monotonic_ns(void);

/// The wait-status macros of <sys/wait.h>.
int clocaldrm_wifexited(int status);
int clocaldrm_wexitstatus(int status);
int clocaldrm_wifsignaled(int status);
int clocaldrm_wtermsig(int status);
int clocaldrm_wcoredump(int status);

/// The process environment (`environ`).
char *const *clocaldrm_environ(void);
/// The highest signal number + 1 (NSIG).
int clocaldrm_nsig(void);
/// How SIGCHLD is set, read without changing it: 1 SIG_IGN, 2 SA_NOCLDWAIT, 0 otherwise (statuses kept).
int clocaldrm_sigchld_disposition(void);
/// Blocks every signal in the calling thread (for LocalDRM's own threads inside host processes).
void clocaldrm_block_all_signals(void);

#endif
