/*
 * libdrmaa.so inside hostile hosts: each mode reproduces something a host process does (fork,
 * SIGCHLD games, fd exhaustion, FIFOs, non-UTF-8 bytes, huge numbers, init/exit loops) and checks
 * that the library neither hangs, crashes nor misleads it. One mode per process, because each
 * changes process-wide state: `test_hostile <mode>`. A watchdog alarm turns a hang into a failure.
 * Prints "N passed, M failed"; exits non-zero on any failure. Run with HOME set to a scratch directory.
 */
#define _GNU_SOURCE 1
#include "drmaa.h"
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


static char D[DRMAA_ERROR_STRING_BUFFER];
#define DL sizeof D

#define EXPECT(call, want, what)                                                                   \
    do {                                                                                           \
        D[0] = 0;                                                                                  \
        int rc_ = (call);                                                                          \
        CHECK(rc_ == (want), "%s: rc %d, expected %d (diag: %s)", what, rc_, (int)(want), D);      \
    } while (0)

static void watchdog(int seconds) {
    signal(SIGALRM, SIG_DFL);
    alarm(seconds);  /* SIGALRM's default action kills the test: a hang fails loudly */
}

static const char *home(void) {
    const char *h = getenv("HOME");
    return h ? h : "/tmp";
}

static drmaa_job_template_t *job(const char *command, const char *const *args, const char *output) {
    drmaa_job_template_t *jt = NULL;
    EXPECT(drmaa_allocate_job_template(&jt, D, DL), DRMAA_ERRNO_SUCCESS, "allocate_job_template");
    EXPECT(drmaa_set_attribute(jt, DRMAA_REMOTE_COMMAND, command, D, DL), DRMAA_ERRNO_SUCCESS, "set remote_command");
    EXPECT(drmaa_set_attribute(jt, DRMAA_OUTPUT_PATH, output ? output : ":/dev/null", D, DL), DRMAA_ERRNO_SUCCESS, "set output_path");
    EXPECT(drmaa_set_attribute(jt, DRMAA_JOIN_FILES, "y", D, DL), DRMAA_ERRNO_SUCCESS, "set join_files");
    if (args) EXPECT(drmaa_set_vector_attribute(jt, DRMAA_V_ARGV, (const char **)args, D, DL), DRMAA_ERRNO_SUCCESS, "set argv");
    return jt;
}

static int run(drmaa_job_template_t *jt, char *id, size_t len) {
    return drmaa_run_job(id, len, jt, D, DL);
}

/* drmaa_wait with status decoding: returns the exit status, or -1 if aborted, -2 if signalled, -3 on error. */
static int wait_status(const char *id, long timeout) {
    char out[DRMAA_JOBNAME_BUFFER];
    int stat = 0, exited = 0, aborted = 0, status = 0;
    int rc = drmaa_wait(id, out, sizeof out, &stat, timeout, NULL, D, DL);
    if (rc != DRMAA_ERRNO_SUCCESS) return -3 - rc * 0;
    drmaa_wifaborted(&aborted, stat, NULL, 0);
    if (aborted) return -1;
    drmaa_wifexited(&exited, stat, NULL, 0);
    if (!exited) return -2;
    drmaa_wexitstatus(&status, stat, NULL, 0);
    return status;
}

static int count_fds(void) {
    int n = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.') n++;
    closedir(dir);
    return n - 1; /* the directory's own fd */
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/* 1. FIFOs as job input and output never block the library: the job waits, not the caller. */
static int test_fifo(void) {
    watchdog(60);
    char in[512], out[512], path[520], id_a[DRMAA_JOBNAME_BUFFER], id_b[DRMAA_JOBNAME_BUFFER], id_c[DRMAA_JOBNAME_BUFFER];
    snprintf(in, sizeof in, "%s/hostile-in.fifo", home());
    snprintf(out, sizeof out, "%s/hostile-out.fifo", home());
    unlink(in);
    unlink(out);
    CHECK(mkfifo(in, 0600) == 0 && mkfifo(out, 0600) == 0, "mkfifo: %s", strerror(errno));
    EXPECT(drmaa_init("slots=2", D, DL), DRMAA_ERRNO_SUCCESS, "init slots=2");
    const char *short_args[] = {"0.5", NULL}, *long_args[] = {"2", NULL};
    drmaa_job_template_t *a = job("/bin/sleep", short_args, NULL), *c = job("/bin/sleep", long_args, NULL);
    drmaa_job_template_t *b = job("/bin/cat", NULL, NULL);
    snprintf(path, sizeof path, ":%s", in);
    EXPECT(drmaa_set_attribute(b, DRMAA_INPUT_PATH, path, D, DL), DRMAA_ERRNO_SUCCESS, "set input_path to a FIFO");
    EXPECT(run(a, id_a, sizeof id_a), DRMAA_ERRNO_SUCCESS, "run A (sleep 0.5)");
    EXPECT(run(c, id_c, sizeof id_c), DRMAA_ERRNO_SUCCESS, "run C (sleep 2)");
    EXPECT(run(b, id_b, sizeof id_b), DRMAA_ERRNO_SUCCESS, "run B (input: a FIFO without a writer), queued behind A and C");
    CHECK(wait_status(id_a, 10) == 0, "A is reaped (%s)", D);
    CHECK(wait_status(id_c, 10) == 0, "C is reaped although B cannot open its input (%s)", D);
    int ps = 0;
    EXPECT(drmaa_job_ps(id_b, &ps, D, DL), DRMAA_ERRNO_SUCCESS, "job_ps B");
    CHECK(ps == DRMAA_PS_QUEUED_ACTIVE, "B waits queued (%#x)", ps);
    EXPECT(drmaa_wait(id_b, NULL, 0, NULL, 1, NULL, D, DL), DRMAA_ERRNO_EXIT_TIMEOUT, "wait B times out");
    CHECK(strstr(D, "FIFO") != NULL, "the timeout diagnosis says why B waits: %s", D);
    EXPECT(drmaa_control(id_b, DRMAA_CONTROL_TERMINATE, D, DL), DRMAA_ERRNO_SUCCESS, "terminate B");
    CHECK(wait_status(id_b, 10) == -1, "B ends aborted at once (%s)", D);

    /* With a free slot, run_job itself returns at once; the job runs once its output FIFO has a reader. */
    drmaa_job_template_t *e = job("/bin/echo", (const char *[]){"hello fifo", NULL}, NULL);
    snprintf(path, sizeof path, ":%s", out);
    EXPECT(drmaa_set_attribute(e, DRMAA_OUTPUT_PATH, path, D, DL), DRMAA_ERRNO_SUCCESS, "set output_path to a FIFO");
    EXPECT(run(e, id_b, sizeof id_b), DRMAA_ERRNO_SUCCESS, "run E (output: a FIFO without a reader) returns at once");
    int reader = open(out, O_RDONLY | O_NONBLOCK);
    CHECK(reader >= 0, "open the reader: %s", strerror(errno));
    CHECK(wait_status(id_b, 10) == 0, "E runs once the FIFO has a reader (%s)", D);
    char buffer[64] = {0};
    ssize_t n = read(reader, buffer, sizeof buffer - 1);
    CHECK(n > 0 && strcmp(buffer, "hello fifo\n") == 0, "the reader got E's output: '%s'", buffer);
    close(reader);
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
    unlink(in);
    unlink(out);
    return check_summary();
}

/* 2. fork() after init: the parent is undisturbed; the child gets a session of its own. */
static int test_fork(void) {
    watchdog(60);
    char parent_job[DRMAA_JOBNAME_BUFFER], child_job[DRMAA_JOBNAME_BUFFER] = "", next[DRMAA_JOBNAME_BUFFER];
    EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_SUCCESS, "init");
    drmaa_job_template_t *sleeper = job("/bin/sleep", (const char *[]){"2", NULL}, NULL);
    EXPECT(run(sleeper, parent_job, sizeof parent_job), DRMAA_ERRNO_SUCCESS, "parent runs sleep 2");
    int pipefd[2];
    CHECK(pipe(pipefd) == 0, "pipe");
    double cpu_before = cpu_seconds();
    pid_t child = fork();
    if (child == 0) {
        close(pipefd[0]);
        /* The child uses the inherited session as it is: it becomes a session of its own. */
        drmaa_job_template_t *jt = NULL;
        char id[DRMAA_JOBNAME_BUFFER] = "", report[1200];
        int rc1 = drmaa_allocate_job_template(&jt, D, DL);
        drmaa_set_attribute(jt, DRMAA_REMOTE_COMMAND, "/bin/sh", NULL, 0);
        drmaa_set_vector_attribute(jt, DRMAA_V_ARGV, (const char *[]){"-c", "sleep 1; exit 5", NULL}, NULL, 0);
        drmaa_set_attribute(jt, DRMAA_OUTPUT_PATH, ":/dev/null", NULL, 0);
        drmaa_set_attribute(jt, DRMAA_JOIN_FILES, "y", NULL, 0);
        int rc2 = drmaa_run_job(id, sizeof id, jt, D, DL);
        int status = wait_status(id, 20);
        int ps = 0;
        int rc3 = drmaa_job_ps(parent_job, &ps, NULL, 0); /* the parent's job is not the child's */
        int rc4 = drmaa_exit(NULL, 0);
        snprintf(report, sizeof report, "%d %d %d %d %d %s", rc1, rc2, status, rc3, rc4, id);
        if (write(pipefd[1], report, strlen(report) + 1) < 0) _exit(3);
        _exit(0);
    }
    close(pipefd[1]);
    char report[1200] = "";
    ssize_t got = read(pipefd[0], report, sizeof report - 1);
    CHECK(got > 0, "the child reports back");
    int rc1 = -1, rc2 = -1, status = -9, rc3 = -1, rc4 = -1;
    sscanf(report, "%d %d %d %d %d %127s", &rc1, &rc2, &status, &rc3, &rc4, child_job);
    int child_status = 0;
    waitpid(child, &child_status, 0);
    double cpu = cpu_seconds() - cpu_before;
    CHECK(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0, "the child exits normally (%#x)", child_status);
    CHECK(rc1 == 0 && rc2 == 0, "the child can allocate a template and run a job (%d %d)", rc1, rc2);
    CHECK(status == 5, "the child's wait returns its job's exit status 5 (got %d)", status);
    CHECK(rc3 == DRMAA_ERRNO_INVALID_JOB, "the parent's job is unknown in the child's session (%d)", rc3);
    CHECK(rc4 == 0, "the child's exit succeeds (%d)", rc4);
    CHECK(cpu < 0.5, "the parent did not spin while the child lived (%.2f s of CPU)", cpu);
    CHECK(strcmp(child_job, parent_job) != 0, "job ids differ: parent %s, child %s", parent_job, child_job);
    CHECK(wait_status(parent_job, 20) == 0, "the parent's own job ends normally, not killed (%s)", D);
    EXPECT(run(sleeper, next, sizeof next), DRMAA_ERRNO_SUCCESS, "the parent submits again");
    CHECK(strcmp(next, child_job) != 0, "the parent's next id %s is not the child's %s", next, child_job);
    EXPECT(drmaa_control(next, DRMAA_CONTROL_TERMINATE, D, DL), DRMAA_ERRNO_SUCCESS, "terminate it");
    wait_status(next, 20);
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
    return check_summary();
}

/* 2b. Many children forked right after drmaa_init (as a multiprocessing pool does), each running a
 * job at once: none may crash or hang (locks and threads inherited mid-use), and ids never repeat. */
static int test_fork_storm(void) {
    watchdog(120);
    EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_SUCCESS, "init, no job yet");
    enum { CHILDREN = 30 };
    char ids[CHILDREN][DRMAA_JOBNAME_BUFFER];
    int crashed = 0, hung = 0, wrong = 0;
    for (int i = 0; i < CHILDREN; i++) {
        int pipefd[2];
        if (pipe(pipefd) != 0) { wrong++; continue; }
        pid_t child = fork();
        if (child == 0) {
            close(pipefd[0]);
            alarm(20);
            drmaa_job_template_t *jt = NULL;
            char id[DRMAA_JOBNAME_BUFFER] = "";
            drmaa_allocate_job_template(&jt, NULL, 0);
            drmaa_set_attribute(jt, DRMAA_REMOTE_COMMAND, "/bin/true", NULL, 0);
            drmaa_set_attribute(jt, DRMAA_OUTPUT_PATH, ":/dev/null", NULL, 0);
            drmaa_set_attribute(jt, DRMAA_JOIN_FILES, "y", NULL, 0);
            int rc = drmaa_run_job(id, sizeof id, jt, NULL, 0);
            int status = rc == 0 ? wait_status(id, 15) : -9;
            if (write(pipefd[1], id, strlen(id) + 1) < 0) _exit(3);
            _exit(rc == 0 && status == 0 ? 0 : 1);
        }
        close(pipefd[1]);
        ids[i][0] = 0;
        if (read(pipefd[0], ids[i], sizeof ids[i] - 1) < 0) ids[i][0] = 0;
        close(pipefd[0]);
        int status = 0;
        waitpid(child, &status, 0);
        if (WIFSIGNALED(status)) *(WTERMSIG(status) == SIGALRM ? &hung : &crashed) += 1;
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) wrong++;
    }
    printf("%d children: %d crashed, %d hung, %d failed\n", CHILDREN, crashed, hung, wrong);
    CHECK(crashed == 0 && hung == 0 && wrong == 0, "every forked child runs and waits for its job");
    int repeated = 0;
    for (int i = 0; i < CHILDREN; i++)
        for (int j = i + 1; j < CHILDREN; j++)
            if (ids[i][0] && strcmp(ids[i], ids[j]) == 0) repeated++;
    CHECK(repeated == 0, "no two children hand out the same job id (%d repeats; first id %s)", repeated, ids[0]);
    char mine[DRMAA_JOBNAME_BUFFER];
    drmaa_job_template_t *jt = job("/bin/true", NULL, NULL);
    EXPECT(run(jt, mine, sizeof mine), DRMAA_ERRNO_SUCCESS, "the parent runs a job afterwards");
    int clash = 0;
    for (int i = 0; i < CHILDREN; i++) clash += strcmp(ids[i], mine) == 0;
    CHECK(clash == 0, "the parent's id %s is none of its children's", mine);
    CHECK(wait_status(mine, 10) == 0, "and it runs (%s)", D);
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
    return check_summary();
}

/* 2c. drmaa_init and a fork at once (its threads just started), the child running a job: in 40 fresh
 * processes, none crashes or hangs. */
static int run_right_after_init(void) {
    if (drmaa_init(NULL, NULL, 0) != 0) return 2;
    pid_t child = fork();
    if (child == 0) {
        alarm(15);
        drmaa_job_template_t *jt = NULL;
        char id[DRMAA_JOBNAME_BUFFER];
        drmaa_allocate_job_template(&jt, NULL, 0);
        drmaa_set_attribute(jt, DRMAA_REMOTE_COMMAND, "/bin/true", NULL, 0);
        drmaa_set_attribute(jt, DRMAA_OUTPUT_PATH, ":/dev/null", NULL, 0);
        drmaa_set_attribute(jt, DRMAA_JOIN_FILES, "y", NULL, 0);
        int rc = drmaa_run_job(id, sizeof id, jt, NULL, 0);
        _exit(rc == 0 && wait_status(id, 10) == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (WIFSIGNALED(status)) return WTERMSIG(status) == SIGALRM ? 3 : 4;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 5;
}

static int test_fork_after_init(void) {
    watchdog(300);
    int outcomes[6] = {0};
    for (int i = 0; i < 40; i++) {
        pid_t runner = fork();  /* a fresh process that has never used DRMAA */
        if (runner == 0) _exit(run_right_after_init());
        int status = 0;
        waitpid(runner, &status, 0);
        int outcome = WIFEXITED(status) ? WEXITSTATUS(status) : 5;
        outcomes[outcome < 6 ? outcome : 5]++;
    }
    printf("40 x (init, fork, job in the child): %d ok, %d failed, %d hung, %d crashed, %d other\n",
           outcomes[0], outcomes[1], outcomes[3], outcomes[4], outcomes[2] + outcomes[5]);
    CHECK(outcomes[0] == 40, "every child forked right after drmaa_init runs its job");
    return check_summary();
}

/* 3. Huge numbers: clear errors, never an overflow trap. */
static int test_bounds(void) {
    watchdog(60);
    char id[DRMAA_JOBNAME_BUFFER];
    EXPECT(drmaa_init("slots=9223372036854775807", D, DL), DRMAA_ERRNO_INVALID_CONTACT_STRING, "init slots=INT64_MAX");
    CHECK(strstr(D, "slots") != NULL, "the diagnosis names the option: %s", D);
    EXPECT(drmaa_init("slots=2", D, DL), DRMAA_ERRNO_SUCCESS, "init slots=2");
    drmaa_job_template_t *jt = job("/bin/true", NULL, NULL);
    EXPECT(drmaa_set_attribute(jt, DRMAA_NATIVE_SPECIFICATION, "--slots=9223372036854775807", D, DL), DRMAA_ERRNO_SUCCESS, "set --slots=INT64_MAX");
    EXPECT(run(jt, id, sizeof id), DRMAA_ERRNO_DENIED_BY_DRM, "run_job with --slots=INT64_MAX");
    EXPECT(drmaa_set_attribute(jt, DRMAA_NATIVE_SPECIFICATION, "--task-limit=9223372036854775807", D, DL), DRMAA_ERRNO_SUCCESS, "set --task-limit");
    EXPECT(run(jt, id, sizeof id), DRMAA_ERRNO_DENIED_BY_DRM, "run_job with --task-limit=INT64_MAX");
    EXPECT(drmaa_set_attribute(jt, DRMAA_NATIVE_SPECIFICATION, "--slots=1", D, DL), DRMAA_ERRNO_SUCCESS, "set --slots=1");
    EXPECT(run(jt, id, sizeof id), DRMAA_ERRNO_SUCCESS, "a 1-slot job");
    CHECK(wait_status(id, 10) == 0, "it runs (%s)", D);
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
    return check_summary();
}

/* 4. A host that discards or steals SIGCHLD statuses. */
static void reap_everything(int signal) {
    (void)signal;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    errno = saved;
}

static int test_sigchld(const char *how) {
    watchdog(120);
    if (strcmp(how, "ignore") == 0 || strcmp(how, "nocldwait") == 0) {
        struct sigaction action = {0};
        action.sa_handler = strcmp(how, "ignore") == 0 ? SIG_IGN : SIG_DFL;
        if (strcmp(how, "nocldwait") == 0) action.sa_flags = SA_NOCLDWAIT;
        sigaction(SIGCHLD, &action, NULL);
        EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_DRMS_INIT_FAILED, "init while the kernel discards child statuses");
        CHECK(strstr(D, "SIGCHLD") != NULL, "the diagnosis explains it: %s", D);
        signal(SIGCHLD, SIG_DFL);
        EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_SUCCESS, "init once SIGCHLD is back to SIG_DFL");
        EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
        return check_summary();
    }
    /* A SIGCHLD handler that reaps with waitpid(-1): statuses are stolen; each job says so. */
    struct sigaction action = {0};
    action.sa_handler = reap_everything;
    action.sa_flags = SA_RESTART;
    sigaction(SIGCHLD, &action, NULL);
    EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_SUCCESS, "init with a reaping SIGCHLD handler");
    drmaa_job_template_t *jt = job("/bin/sh", (const char *[]){"-c", "exit 7", NULL}, NULL);
    int exact = 0, lost = 0, wrong = 0, explained = 0;
    for (int i = 0; i < 30; i++) {
        char id[DRMAA_JOBNAME_BUFFER], out[DRMAA_JOBNAME_BUFFER];
        drmaa_attr_values_t *usage = NULL;
        int stat = 0, aborted = 0, exited = 0, status = 0;
        if (run(jt, id, sizeof id) != DRMAA_ERRNO_SUCCESS) { wrong++; continue; }
        if (drmaa_wait(id, out, sizeof out, &stat, 20, &usage, D, DL) != DRMAA_ERRNO_SUCCESS) { wrong++; continue; }
        drmaa_wifaborted(&aborted, stat, NULL, 0);
        drmaa_wifexited(&exited, stat, NULL, 0);
        drmaa_wexitstatus(&status, stat, NULL, 0);
        if (aborted) {
            lost++;
            char entry[DRMAA_ATTR_BUFFER];
            int found = 0;
            while (drmaa_get_next_attr_value(usage, entry, sizeof entry) == DRMAA_ERRNO_SUCCESS)
                if (strncmp(entry, "drmaa_abort_reason=", 19) == 0) {
                    found = 1;
                    if (strstr(entry, "another part of this process")) explained++;
                    else printf("unexpected abort reason: %s\n", entry);
                }
            if (!found) printf("no drmaa_abort_reason entry for job %s\n", id);
        } else if (exited && status == 7) {
            exact++;
        } else {
            wrong++;
        }
        drmaa_release_attr_values(usage);
    }
    printf("reaping SIGCHLD handler: %d exact, %d lost (%d explained), %d wrong\n", exact, lost, explained, wrong);
    CHECK(wrong == 0, "no job reports a wrong status (%d did)", wrong);
    CHECK(explained == lost, "every lost status carries drmaa_abort_reason (%d of %d)", explained, lost);
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
    return check_summary();
}

/* 5. Bytes that are not UTF-8 round-trip through the API and reach the job exactly. */
static int test_bytes(void) {
    watchdog(60);
    EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_SUCCESS, "init");
    char output[700], file[600], id[DRMAA_JOBNAME_BUFFER], value[DRMAA_ATTR_BUFFER];
    snprintf(file, sizeof file, "%s/bytes-\xe9\xff", home());
    snprintf(output, sizeof output, ":%s", file);
    unlink(file);
    drmaa_job_template_t *jt = job("/bin/sh", (const char *[]){"-c", "printf '%s|%s' \"$1\" \"$V\"", "sh", "caf\xe9\xff", NULL}, output);
    EXPECT(drmaa_set_vector_attribute(jt, DRMAA_V_ENV, (const char *[]){"V=\xe9t\xe9", NULL}, D, DL), DRMAA_ERRNO_SUCCESS, "set env");
    EXPECT(drmaa_get_attribute(jt, DRMAA_OUTPUT_PATH, value, sizeof value, D, DL), DRMAA_ERRNO_SUCCESS, "get output_path");
    CHECK(strcmp(value, output) == 0, "output_path round-trips byte for byte");
    drmaa_attr_values_t *argv = NULL;
    EXPECT(drmaa_get_vector_attribute(jt, DRMAA_V_ARGV, &argv, D, DL), DRMAA_ERRNO_SUCCESS, "get argv");
    int index = 0, exact = 0;
    while (drmaa_get_next_attr_value(argv, value, sizeof value) == DRMAA_ERRNO_SUCCESS)
        if (index++ == 3 && strcmp(value, "caf\xe9\xff") == 0) exact = 1;
    drmaa_release_attr_values(argv);
    CHECK(exact, "argv round-trips byte for byte");
    EXPECT(run(jt, id, sizeof id), DRMAA_ERRNO_SUCCESS, "run");
    CHECK(wait_status(id, 10) == 0, "the job succeeds (%s)", D);
    char buffer[64] = {0};
    int fd = open(file, O_RDONLY);
    CHECK(fd >= 0, "the output file has the exact name: %s", strerror(errno));
    if (fd >= 0) {
        ssize_t n = read(fd, buffer, sizeof buffer - 1);
        CHECK(n == 9 && memcmp(buffer, "caf\xe9\xff|\xe9t\xe9", 9) == 0, "the job saw the exact bytes (%zd bytes)", n);
        close(fd);
    }
    unlink(file);
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
    return check_summary();
}

/* 7. Configuration files that are not regular files are refused at once. */
static int test_categories(void) {
    watchdog(30);
    char fifo[512], contact[600];
    snprintf(fifo, sizeof fifo, "%s/categories.fifo", home());
    unlink(fifo);
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    snprintf(contact, sizeof contact, "categories=%s", fifo);
    EXPECT(drmaa_init(contact, D, DL), DRMAA_ERRNO_DRMS_INIT_FAILED, "init with a FIFO as category file");
    CHECK(strstr(D, "regular file") != NULL, "the diagnosis says why: %s", D);
    char buffer[DRMAA_CONTACT_BUFFER];
    EXPECT(drmaa_get_contact(buffer, sizeof buffer, D, DL), DRMAA_ERRNO_SUCCESS, "get_contact afterwards");
    EXPECT(drmaa_init("categories=/dev/zero", D, DL), DRMAA_ERRNO_DRMS_INIT_FAILED, "init with /dev/zero as category file");
    EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_SUCCESS, "init without");
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
    unlink(fifo);
    return check_summary();
}

/* 8. Out of file descriptors: init fails without caching the failure or leaking; jobs wait and retry. */
static int fillers[4096], filled;

static void use_up_fds(void) {
    filled = 0;
    int fd;
    while (filled < 4096 && (fd = open("/dev/null", O_RDONLY)) >= 0) fillers[filled++] = fd;
}

static void free_fds(void) {
    while (filled > 0) close(fillers[--filled]);
}

static int test_emfile(void) {
    watchdog(60);
    struct rlimit original, tight;
    getrlimit(RLIMIT_NOFILE, &original);
    tight = original;
    tight.rlim_cur = 256;  /* so that using them all up takes few */
    setrlimit(RLIMIT_NOFILE, &tight);
    int before = count_fds();
    use_up_fds();
    EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_DRMS_INIT_FAILED, "init with no fd left");
    CHECK(strstr(D, "Too many open files") != NULL, "the diagnosis names EMFILE: %s", D);
    free_fds();
    CHECK(count_fds() == before, "no fd leaked by the failed init (%d before, %d after)", before, count_fds());
    EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_SUCCESS, "init once fds are free again");

    /* Spawning without fds: the job stays queued with a reason, and starts once fds are back. */
    drmaa_job_template_t *jt = job("/bin/sh", (const char *[]){"-c", "exit 4", NULL}, NULL);
    char id[DRMAA_JOBNAME_BUFFER];
    use_up_fds();
    EXPECT(run(jt, id, sizeof id), DRMAA_ERRNO_SUCCESS, "run_job while no fd is free");
    int ps = 0;
    EXPECT(drmaa_job_ps(id, &ps, D, DL), DRMAA_ERRNO_SUCCESS, "job_ps");
    CHECK(ps == DRMAA_PS_QUEUED_ACTIVE, "the job stays queued (%#x)", ps);
    EXPECT(drmaa_wait(id, NULL, 0, NULL, 1, NULL, D, DL), DRMAA_ERRNO_EXIT_TIMEOUT, "wait times out");
    CHECK(strstr(D, "Too many open files") != NULL, "the timeout diagnosis says why it waits: %s", D);
    free_fds();
    CHECK(wait_status(id, 20) == 4, "it runs once fds are free (%s)", D);
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
    setrlimit(RLIMIT_NOFILE, &original);
    return check_summary();
}

/* 9. init/exit in a loop (a `with drmaa.Session()` per task) costs no memory. */
static int test_init_exit_loop(void) {
    watchdog(120);
    for (int i = 0; i < 500; i++) {  /* warm-up: caches, the runtime's threads */
        drmaa_init(NULL, NULL, 0);
        drmaa_exit(NULL, 0);
    }
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)
    struct mallinfo2 start = mallinfo2();
#else
    struct mallinfo start = mallinfo();  /* glibc < 2.33 (the Debian 11 run): int fields, enough here */
#endif
    int failures = 0;
    for (int i = 0; i < 20000; i++) {
        failures += drmaa_init(NULL, D, DL) != 0;
        failures += drmaa_exit(D, DL) != 0;
    }
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)
    struct mallinfo2 end = mallinfo2();
#else
    struct mallinfo end = mallinfo();
#endif
    long growth = (long)end.uordblks - (long)start.uordblks;
    printf("heap growth over 20,000 init/exit cycles: %ld bytes\n", growth);
    CHECK(failures == 0, "every init and exit succeeds (%d failures)", failures);
    CHECK(growth < 20000 * 8, "under 8 bytes per cycle (%ld bytes in all)", growth);
    return check_summary();
}

/* Copies the file at `from` to `to` with `mode`; 0 on success. */
static int copy_file(const char *from, const char *to, mode_t mode) {
    int in = open(from, O_RDONLY | O_CLOEXEC), out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int ok = in >= 0 && out >= 0;
    char buffer[65536];
    ssize_t n;
    while (ok && (n = read(in, buffer, sizeof buffer)) != 0) {
        if (n < 0) { ok = errno == EINTR; continue; }
        ok = write(out, buffer, (size_t)n) == n;
    }
    if (in >= 0) close(in);
    if (out >= 0 && close(out) != 0) ok = 0;
    return ok && chmod(to, mode) == 0 ? 0 : -1;
}

/* The path of the libdrmaa this process loaded (from /proc/self/maps), or NULL. */
static const char *loaded_library(char *path, size_t size) {
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps) return NULL;
    char line[4096];
    const char *found = NULL;
    while (!found && fgets(line, sizeof line, maps)) {
        char *slash = strchr(line, '/');
        if (!slash || !strstr(slash, "/libdrmaa.so")) continue;
        slash[strcspn(slash, "\n")] = 0;
        snprintf(path, size, "%s", slash);
        found = path;
    }
    fclose(maps);
    return found;
}

/* 10. Jobs that take their TMPDIR's permissions away from their own user (root ignores permissions,
 * so this runs as an ordinary one): removal gives them back inside the directory, removes a link put
 * in its place, and leaves no drmaa-job-* directory behind. As root, the mode re-runs itself as
 * nobody through setpriv (skipped, saying so, without it). */
static int test_tmpdir_modes(const char *self) {
    watchdog(120);
    if (geteuid() == 0) {
        const char *setpriv = access("/usr/bin/setpriv", X_OK) == 0 ? "/usr/bin/setpriv"
                            : access("/bin/setpriv", X_OK) == 0 ? "/bin/setpriv" : NULL;
        if (!setpriv) {
            printf("SKIPPED: running as root, which permissions do not stop, and no setpriv to run as nobody\n");
            return 0;
        }
        char home[] = "/tmp/drmaa-hostile-home-XXXXXX";
        CHECK(mkdtemp(home) != NULL && chown(home, 65534, 65534) == 0, "a home for nobody: %s", strerror(errno));
        /* nobody may not pass through the directories above this build (a checkout under /root):
         * it runs copies of this program and of the library from its own home. */
        char library[4096], program[512], library_copy[512];
        CHECK(loaded_library(library, sizeof library) != NULL, "libdrmaa.so is in /proc/self/maps");
        snprintf(program, sizeof program, "%s/test_hostile", home);
        snprintf(library_copy, sizeof library_copy, "%s/libdrmaa.so.1", home);
        CHECK(copy_file(self, program, 0755) == 0 && copy_file(library, library_copy, 0644) == 0,
              "copy %s and %s into %s: %s", self, library, home, strerror(errno));
        pid_t child = fork();
        if (child == 0) {
            setenv("HOME", home, 1);
            setenv("LD_LIBRARY_PATH", home, 1);
            execl(setpriv, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--", program, "tmpdir-modes", (char *)NULL);
            perror("exec setpriv");
            _exit(127);
        }
        int status = 0;
        waitpid(child, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the run as nobody passed (status %#x)", status);
        unlink(program);
        unlink(library_copy);
        rmdir(home);
        return check_summary();
    }
    char parent[] = "/tmp/drmaa-tmpdir-modes-XXXXXX";
    CHECK(mkdtemp(parent) != NULL, "mkdtemp: %s", strerror(errno));
    setenv("TMPDIR", parent, 1);  /* read at each submission: the jobs' directories are made in it */
    EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_SUCCESS, "init");
    char own[200];
    snprintf(own, sizeof own, "case $TMPDIR in %s/drmaa-job-*) ;; *) exit 1;; esac", parent);
    const char *scripts[] = {
        own,  /* each job has a private TMPDIR in the parent */
        "touch $TMPDIR/a; chmod 000 $TMPDIR",
        "mkdir $TMPDIR/ro; touch $TMPDIR/ro/f; chmod 500 $TMPDIR/ro",
        "mkdir $TMPDIR/no; touch $TMPDIR/no/f; chmod 000 $TMPDIR/no",
        "mkdir -p $TMPDIR/a/b; touch $TMPDIR/a/b/f; chmod 000 $TMPDIR/a/b; chmod 100 $TMPDIR/a; chmod 500 $TMPDIR",
        "rmdir $TMPDIR; ln -s \"$HOME\" $TMPDIR",
    };
    for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++) {
        char id[DRMAA_JOBNAME_BUFFER];
        drmaa_job_template_t *jt = job("/bin/sh", (const char *[]){"-c", scripts[i], NULL}, NULL);
        EXPECT(run(jt, id, sizeof id), DRMAA_ERRNO_SUCCESS, scripts[i]);
        CHECK(wait_status(id, 20) == 0, "the job '%s' succeeds (%s)", scripts[i], D);
        drmaa_delete_job_template(jt, NULL, 0);
    }
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
    int left = 0;
    DIR *dir = opendir(parent);
    CHECK(dir != NULL, "opendir %s: %s", parent, strerror(errno));
    struct dirent *entry;
    while (dir && (entry = readdir(dir)) != NULL)
        if (strncmp(entry->d_name, "drmaa-job-", 10) == 0) {
            printf("left behind: %s/%s\n", parent, entry->d_name);
            left++;
        }
    if (dir) closedir(dir);
    CHECK(left == 0, "no job's TMPDIR is left in %s (%d are)", parent, left);
    if (left == 0) rmdir(parent);
    return check_summary();
}

/* 11. A host whose current directory was removed: what depends on it says so (-cwd is refused,
 * naming it) and nothing else fails (Slurm's SLURM_SUBMIT_DIR is left unset). */
static int test_cwd_removed(void) {
    watchdog(30);
    char dir[600], id[DRMAA_JOBNAME_BUFFER];
    snprintf(dir, sizeof dir, "%s/cwd-removed", home());
    rmdir(dir);
    CHECK(mkdir(dir, 0700) == 0 && chdir(dir) == 0 && rmdir(dir) == 0, "a removed current directory: %s", strerror(errno));
    EXPECT(drmaa_init("emulate=slurm", D, DL), DRMAA_ERRNO_SUCCESS, "init emulate=slurm");
    drmaa_job_template_t *jt = job("/bin/sh", (const char *[]){"-c", "test -z \"${SLURM_SUBMIT_DIR+set}\"", NULL}, NULL);
    EXPECT(run(jt, id, sizeof id), DRMAA_ERRNO_SUCCESS, "run from a removed directory");
    CHECK(wait_status(id, 10) == 0, "the job runs, without SLURM_SUBMIT_DIR (%s)", D);
    EXPECT(drmaa_set_attribute(jt, DRMAA_NATIVE_SPECIFICATION, "-cwd", D, DL), DRMAA_ERRNO_SUCCESS, "set -cwd");
    EXPECT(run(jt, id, sizeof id), DRMAA_ERRNO_DENIED_BY_DRM, "run with -cwd from a removed directory");
    CHECK(strstr(D, "current directory, which cannot be found") != NULL, "the diagnosis says why: %s", D);
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
    return check_summary();
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    printf("== hostile host: %s\n", mode);
    if (strcmp(mode, "fifo") == 0) return test_fifo();
    if (strcmp(mode, "fork") == 0) return test_fork();
    if (strcmp(mode, "fork-storm") == 0) return test_fork_storm();
    if (strcmp(mode, "fork-after-init") == 0) return test_fork_after_init();
    if (strcmp(mode, "bounds") == 0) return test_bounds();
    if (strncmp(mode, "sigchld-", 8) == 0) return test_sigchld(mode + 8);
    if (strcmp(mode, "bytes") == 0) return test_bytes();
    if (strcmp(mode, "categories") == 0) return test_categories();
    if (strcmp(mode, "emfile") == 0) return test_emfile();
    if (strcmp(mode, "init-exit-loop") == 0) return test_init_exit_loop();
    if (strcmp(mode, "tmpdir-modes") == 0) return test_tmpdir_modes(argv[0]);
    if (strcmp(mode, "cwd-removed") == 0) return test_cwd_removed();
    fprintf(stderr, "usage: test_hostile fifo|fork|fork-storm|fork-after-init|bounds|sigchld-ignore|sigchld-nocldwait|sigchld-reaper|bytes|categories|emfile|init-exit-loop|tmpdir-modes|cwd-removed\n");
    return 2;
}
