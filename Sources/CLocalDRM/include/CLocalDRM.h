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

/// Whether glibc has posix_spawn_file_actions_addfchdir_np (2.29 and later), looked up at run time.
int clocaldrm_spawn_has_fchdir(void);
/// posix_spawn_file_actions_addfchdir_np: the child changes to directory `fd`. Returns 0 or an
/// error number; ENOSYS if glibc lacks it (use clocaldrm_spawn_fchdir_fallback instead).
int clocaldrm_spawn_addfchdir(posix_spawn_file_actions_t *actions, int fd);
/// posix_spawn_file_actions_addclosefrom_np: the child closes every fd >= `from`. Without it
/// (glibc < 2.34) one close action per descriptor open now. Returns 0 or an error number.
int clocaldrm_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);
/// Spawns `path` for glibc without a chdir file action: the child gets `input`, `output` and
/// `error` as fds 0-2, directory `directory`, no other fd, its own process group, default handlers
/// and an empty mask for every signal -- what Spawner asks of posix_spawn. Returns 0 and the pid, or
/// the error number of the failed step (like posix_spawn).
int clocaldrm_spawn_fchdir_fallback(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                                    int input, int output, int error, int directory);

/// Gives a spawned process an empty signal mask and the default disposition of every signal
/// (POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF, plus `flags`). 0 or the error number.
int clocaldrm_spawnattr_clean_signals(posix_spawnattr_t *attributes, short flags);

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
int clocaldrm_wexitstatus(int status);
int clocaldrm_wifsignaled(int status);
int clocaldrm_wtermsig(int status);
int clocaldrm_wcoredump(int status);

/// The process environment (`environ`).
char *const *clocaldrm_environ(void);
/// waitid(P_PIDFD, WEXITED|WNOHANG|WNOWAIT): 0 while the pidfd's child is unreaped, -1 with errno
/// (ECHILD: reaped by someone else; EINVAL: the kernel has no P_PIDFD, Linux < 5.4).
int clocaldrm_pidfd_peek(int pidfd);
/// Reaps the pidfd's child with its rusage (raw waitid); `status` as wait4 would give it. 0 or -1 with errno.
int clocaldrm_pidfd_reap(int pidfd, int *status, struct rusage *usage);
/// How SIGCHLD is set, read without changing it: 1 SIG_IGN, 2 SA_NOCLDWAIT, 0 otherwise (statuses kept).
int clocaldrm_sigchld_disposition(void);
/// prlimit(2): reads (`old_limit`) and/or sets (`new_limit`) a resource limit of process `pid`.
/// 0 or -1 with errno.
int clocaldrm_prlimit(pid_t pid, int resource, const struct rlimit *new_limit, struct rlimit *old_limit);
/// O_PATH (a GNU flag of open(2), not visible to Swift): a descriptor that only names a file.
int clocaldrm_o_path(void);
/// Blocks every signal in the calling thread (for LocalDRM's own threads inside host processes).
void clocaldrm_block_all_signals(void);


/// AF_UNIX sockets of the durable mode (sockaddr_un is awkward in Swift). Every descriptor is
/// O_CLOEXEC. Each returns the descriptor, or -1 with errno (ENAMETOOLONG for a path longer than
/// sun_path holds).
/// A listening socket of `type` (SOCK_STREAM, SOCK_SEQPACKET) bound at `path`, then given mode
/// `mode`: `path` must be in a directory only this user can enter.
int clocaldrm_unix_listen(const char *path, int type, int backlog, unsigned mode);
/// A socket of `type` connected to `path`.
int clocaldrm_unix_connect(const char *path, int type);
/// accept4(2) with SOCK_CLOEXEC.
int clocaldrm_unix_accept(int listener);
/// The peer's uid and pid (SO_PEERCRED); 0 or -1 with errno.
int clocaldrm_peer_credentials(int fd, uid_t *uid, pid_t *pid);
/// socketpair(AF_UNIX, type | SOCK_CLOEXEC); 0 or -1 with errno.
int clocaldrm_socketpair(int type, int fds[2]);
/// MSG_NOSIGNAL and MSG_DONTWAIT, which Swift does not see as constants.
int clocaldrm_msg_nosignal(void);
int clocaldrm_msg_dontwait(void);
int clocaldrm_sock_seqpacket(void);
int clocaldrm_sock_stream(void);
/// The path of the object this code is loaded from (libdrmaa.so, or the executable), through
/// dladdr(3); NULL if unknown.
const char *clocaldrm_own_object_path(void);
/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK).
int clocaldrm_eventfd(void);
/// pipe2(fds, O_CLOEXEC | O_NONBLOCK) (pipe2 is a GNU extension, not visible to Swift).
int clocaldrm_pipe(int fds[2]);
/// malloc_trim(0): gives malloc's free memory back to the system.
int clocaldrm_malloc_trim(void);
/// Sends one packet of `length` bytes with `count` descriptors (at most 8) as SCM_RIGHTS, with
/// MSG_NOSIGNAL | MSG_DONTWAIT; 0 or -1 with errno.
int clocaldrm_send_with_descriptors(int fd, const void *bytes, size_t length, const int *descriptors, int count);
/// Receives one packet (MSG_DONTWAIT, MSG_CMSG_CLOEXEC) into `buffer`, and up to `capacity` (at most
/// 8) descriptors into `descriptors`, their number in `*count`. Returns the packet's full length
/// (more than `size` if it was cut: MSG_TRUNC), 0 at end of stream, or -1 with errno. Descriptors
/// beyond `capacity` (MSG_CTRUNC) are closed by the kernel; `*truncated` is set to 1 then.
long clocaldrm_receive_with_descriptors(int fd, void *buffer, size_t size, int *descriptors, int capacity,
                                        int *count, int *truncated);

#endif
