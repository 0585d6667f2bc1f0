/*
 * dlopen libdrmaa.so, run a job, drmaa_exit, dlclose while the job still runs, and live on: the
 * library's threads must never run unmapped code (it is linked with -z nodelete).
 * Usage: test_dlclose /path/to/libdrmaa.so. Prints "N passed, M failed".
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef int (*init_fn)(const char *, char *, size_t);
typedef int (*exit_fn)(char *, size_t);
typedef int (*allocate_fn)(void **, char *, size_t);
typedef int (*set_fn)(void *, const char *, const char *, char *, size_t);
typedef int (*set_vector_fn)(void *, const char *, const char **, char *, size_t);
typedef int (*run_fn)(char *, size_t, void *, char *, size_t);

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(30);
    int passed = 0, failed = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: test_dlclose /path/to/libdrmaa.so\n");
        return 2;
    }
    void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        printf("FAIL dlopen: %s\n", dlerror());
        return 1;
    }
    init_fn init = (init_fn)dlsym(library, "drmaa_init");
    exit_fn leave = (exit_fn)dlsym(library, "drmaa_exit");
    allocate_fn allocate = (allocate_fn)dlsym(library, "drmaa_allocate_job_template");
    set_fn set = (set_fn)dlsym(library, "drmaa_set_attribute");
    set_vector_fn set_vector = (set_vector_fn)dlsym(library, "drmaa_set_vector_attribute");
    run_fn run = (run_fn)dlsym(library, "drmaa_run_job");
    char diagnosis[1024], id[128];
    void *jt = NULL;
    const char *args[] = {"1", NULL};
    int ok = init(NULL, diagnosis, sizeof diagnosis) == 0
        && allocate(&jt, diagnosis, sizeof diagnosis) == 0
        && set(jt, "drmaa_remote_command", "/bin/sleep", diagnosis, sizeof diagnosis) == 0
        && set(jt, "drmaa_output_path", ":/dev/null", diagnosis, sizeof diagnosis) == 0
        && set(jt, "drmaa_join_files", "y", diagnosis, sizeof diagnosis) == 0
        && set_vector(jt, "drmaa_v_argv", args, diagnosis, sizeof diagnosis) == 0
        && run(id, sizeof id, jt, diagnosis, sizeof diagnosis) == 0
        && leave(diagnosis, sizeof diagnosis) == 0;
    if (ok) passed++; else { failed++; printf("FAIL a job through dlopen: %s\n", diagnosis); }
    dlclose(library);
    sleep(2);  /* the job ends meanwhile: the supervisor reaps it in code that must still be mapped */
    passed++;
    printf("the host lives on after dlclose and the job's end\n");
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
