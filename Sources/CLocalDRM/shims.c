#define _GNU_SOURCE 1
#include "include/CLocalDRM.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
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

int clocaldrm_spawn_addfchdir(posix_spawn_file_actions_t *actions, int fd) {
    return posix_spawn_file_actions_addfchdir_np(actions, fd);
}

int clocaldrm_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

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

int clocaldrm_wifexited(int status) { return WIFEXITED(status); }
int clocaldrm_wexitstatus(int status) { return WEXITSTATUS(status); }
int clocaldrm_wifsignaled(int status) { return WIFSIGNALED(status); }
int clocaldrm_wtermsig(int status) { return WTERMSIG(status); }
int clocaldrm_wcoredump(int status) { return WCOREDUMP(status); }

char *const *clocaldrm_environ(void) { return environ; }
int clocaldrm_nsig(void) { return NSIG; }

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
