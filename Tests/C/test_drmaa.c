/*
 * C-level conformance test of libdrmaa.so (digest §10, the C-specific items).
 *
 * Compiled against our own drmaa.h and, when available, against Grid Engine's drmaa.h (ABI
 * check); always linked to our library. Uses only names both headers define.
 * Prints one line per check and a final "N passed, M failed"; exits non-zero on any failure.
 * Jobs run with the caller's $HOME as their home: run it with HOME set to a scratch directory.
 */
#include "drmaa.h"
#include "check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Diagnosis buffer handling: D is pre-filled with a sentinel so "untouched" can be checked. */
static char D[DRMAA_ERROR_STRING_BUFFER];
#define DL sizeof D
static void fresh(void) { memset(D, 'Z', sizeof D); D[sizeof D - 1] = 0; }
/* The tests run against the Slurm backend (DRMAA_BACKEND=slurm): a few checks are LocalDRM's own. */
static int on_slurm(void) { const char *b = getenv("DRMAA_BACKEND"); return b && strcmp(b, "slurm") == 0; }
static int untouched(void) { return D[0] == 'Z' && D[1] == 'Z'; }
/* A failing call must write a non-empty, NUL-terminated diagnosis. */
static int diagnosed(void) { return D[0] != 0 && D[0] != 'Z' && memchr(D, 0, sizeof D) != NULL; }

/* Checks the return code rc == want, and the diagnosis rule for it (§8.2). */
#define EXPECT(call, want, what)                                                          \
    do {                                                                                  \
        fresh();                                                                          \
        int rc_ = (call);                                                                 \
        CHECK(rc_ == (want), "%s: rc %d, expected %d (diag: %s)", what, rc_, (int)(want), \
              untouched() ? "<untouched>" : D);                                           \
        if ((want) == DRMAA_ERRNO_SUCCESS)                                                \
            CHECK(untouched(), "%s: diagnosis written on success: %s", what, D);          \
        else                                                                              \
            CHECK(diagnosed(), "%s: failure without a diagnosis", what);                  \
    } while (0)

static void section(const char *name) { printf("== %s\n", name); }

static drmaa_job_template_t *template_for(const char *command, const char *const *args) {
    drmaa_job_template_t *jt = NULL;
    EXPECT(drmaa_allocate_job_template(&jt, D, DL), DRMAA_ERRNO_SUCCESS, "allocate_job_template");
    if (!jt) return NULL;
    EXPECT(drmaa_set_attribute(jt, DRMAA_REMOTE_COMMAND, command, D, DL), DRMAA_ERRNO_SUCCESS, "set remote_command");
    EXPECT(drmaa_set_attribute(jt, DRMAA_OUTPUT_PATH, ":/dev/null", D, DL), DRMAA_ERRNO_SUCCESS, "set output_path");
    EXPECT(drmaa_set_attribute(jt, DRMAA_JOIN_FILES, "y", D, DL), DRMAA_ERRNO_SUCCESS, "set join_files");
    if (args)
        EXPECT(drmaa_set_vector_attribute(jt, DRMAA_V_ARGV, (const char **)args, D, DL), DRMAA_ERRNO_SUCCESS, "set v_argv");
    return jt;
}

static void test_without_session(void) {
    section("without a session (items 1, 2, 3, 4, 7, 9, 85)");
    unsigned int major = 7, minor = 7;
    EXPECT(drmaa_version(&major, &minor, D, DL), DRMAA_ERRNO_SUCCESS, "version");
    CHECK(major == 1 && minor == 0, "version %u.%u", major, minor);
    EXPECT(drmaa_version(NULL, NULL, NULL, 0), DRMAA_ERRNO_SUCCESS, "version with NULL pointers");

    char contact[DRMAA_CONTACT_BUFFER] = "junk";
    EXPECT(drmaa_get_contact(contact, sizeof contact, D, DL), DRMAA_ERRNO_SUCCESS, "get_contact before init");
    CHECK(contact[0] == 0, "contact before init is \"%s\"", contact);
    EXPECT(drmaa_get_contact(NULL, 10, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "get_contact(NULL)");

    char sys[DRMAA_DRM_SYSTEM_BUFFER] = "", impl[DRMAA_DRMAA_IMPLEMENTATION_BUFFER] = "";
    EXPECT(drmaa_get_DRM_system(sys, sizeof sys, D, DL), DRMAA_ERRNO_SUCCESS, "get_DRM_system before init");
    EXPECT(drmaa_get_DRMAA_implementation(impl, sizeof impl, D, DL), DRMAA_ERRNO_SUCCESS, "get_DRMAA_implementation before init");
    CHECK(sys[0] != 0 && impl[0] != 0, "non-empty system '%s' and implementation '%s'", sys, impl);
    EXPECT(drmaa_get_DRM_system(NULL, 10, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "get_DRM_system(NULL)");
    EXPECT(drmaa_get_DRMAA_implementation(NULL, 10, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "get_DRMAA_implementation(NULL)");

    for (int c = 0; c <= 25; c++) {
        const char *m = drmaa_strerror(c);
        CHECK(m != NULL && m[0] != 0, "strerror(%d) non-empty", c);
        CHECK(m == drmaa_strerror(c), "strerror(%d) is a static string", c);
    }
    CHECK(drmaa_strerror(-1) == NULL, "strerror(-1) is NULL");
    CHECK(drmaa_strerror(26) == NULL, "strerror(26) is NULL");
    CHECK(drmaa_strerror(DRMAA_NO_ERRNO) == NULL, "strerror(DRMAA_NO_ERRNO) is NULL");
    CHECK(drmaa_strerror(1000) == NULL, "strerror(1000) is NULL");

    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "exit without init");
    drmaa_job_template_t *jt = NULL;
    EXPECT(drmaa_allocate_job_template(&jt, D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "allocate_job_template before init");
    int ps = -1;
    EXPECT(drmaa_job_ps("1", &ps, D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "job_ps before init");
    EXPECT(drmaa_control("1", DRMAA_CONTROL_TERMINATE, D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "control before init");
    EXPECT(drmaa_wait(DRMAA_JOB_IDS_SESSION_ANY, NULL, 0, NULL, 0, NULL, D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "wait before init");
    const char *none[] = {NULL};
    EXPECT(drmaa_synchronize(none, 0, 0, D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "synchronize before init");
    drmaa_attr_names_t *names = NULL;
    EXPECT(drmaa_get_attribute_names(&names, D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "get_attribute_names before init");

    section("init / exit (items 5, 6, 7, 8, 9, 11, 12, 85)");
    EXPECT(drmaa_init("garbage", D, DL), DRMAA_ERRNO_INVALID_CONTACT_STRING, "init(\"garbage\")");
    EXPECT(drmaa_init("session=no-such-session", D, DL), DRMAA_ERRNO_INVALID_CONTACT_STRING, "init(unknown session)");
    EXPECT(drmaa_init("slots=zero", D, DL), DRMAA_ERRNO_INVALID_CONTACT_STRING, "init(slots=zero)");
    EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_SUCCESS, "init(NULL)");
    EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_ALREADY_ACTIVE_SESSION, "second init(NULL)");
    EXPECT(drmaa_init("", D, DL), DRMAA_ERRNO_ALREADY_ACTIVE_SESSION, "second init(\"\")");

    char sys2[DRMAA_DRM_SYSTEM_BUFFER] = "", impl2[DRMAA_DRMAA_IMPLEMENTATION_BUFFER] = "";
    EXPECT(drmaa_get_DRM_system(sys2, sizeof sys2, D, DL), DRMAA_ERRNO_SUCCESS, "get_DRM_system after init");
    EXPECT(drmaa_get_DRMAA_implementation(impl2, sizeof impl2, D, DL), DRMAA_ERRNO_SUCCESS, "get_DRMAA_implementation after init");
    CHECK(strcmp(sys, sys2) == 0 && strcmp(impl, impl2) == 0, "system/implementation unchanged by init");

    EXPECT(drmaa_get_contact(contact, sizeof contact, D, DL), DRMAA_ERRNO_SUCCESS, "get_contact after init");
    CHECK(strncmp(contact, "session=", 8) == 0 && contact[8] != 0, "contact after init is '%s'", contact);

    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "second exit");
    EXPECT(drmaa_allocate_job_template(&jt, D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "allocate_job_template after exit");
    EXPECT(drmaa_job_ps("1", &ps, D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "job_ps after exit");

    EXPECT(drmaa_init(contact, D, DL), DRMAA_ERRNO_SUCCESS, "init with the previous contact (reconnect)");
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit after reconnect");
    EXPECT(drmaa_init("", D, DL), DRMAA_ERRNO_SUCCESS, "init(\"\")");
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
    /* A backend option: LocalDRM's slot count, the Slurm backend's poll interval. */
    const char *option = on_slurm() ? "poll_min=0.05" : "slots=2";
    EXPECT(drmaa_init(option, D, DL), DRMAA_ERRNO_SUCCESS, "init with a backend option");
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
}

static void test_templates(void) {
    section("job templates (items 16, 17, 18, 19, 22, 23, 29, 30)");
    drmaa_job_template_t *jt = NULL;
    EXPECT(drmaa_allocate_job_template(NULL, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "allocate_job_template(NULL)");
    EXPECT(drmaa_delete_job_template(NULL, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "delete_job_template(NULL)");
    EXPECT(drmaa_allocate_job_template(&jt, D, DL), DRMAA_ERRNO_SUCCESS, "allocate_job_template");
    CHECK(jt != NULL, "template allocated");

    EXPECT(drmaa_set_attribute(jt, "no_such_attribute", "x", D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "set unsupported attribute");
    EXPECT(drmaa_set_attribute(jt, DRMAA_V_ARGV, "x", D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "set_attribute with a vector name");
    const char *vals[] = {"a", "b c", NULL};
    EXPECT(drmaa_set_vector_attribute(jt, DRMAA_WD, vals, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "set_vector_attribute with a scalar name");
    char value[DRMAA_ATTR_BUFFER];
    EXPECT(drmaa_get_attribute(jt, DRMAA_V_ENV, value, sizeof value, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "get_attribute with a vector name");

    EXPECT(drmaa_get_attribute(jt, DRMAA_JOB_NAME, value, sizeof value, D, DL), DRMAA_ERRNO_INVALID_ATTRIBUTE_VALUE, "get unset scalar");
    drmaa_attr_values_t *values = NULL;
    EXPECT(drmaa_get_vector_attribute(jt, DRMAA_V_ARGV, &values, D, DL), DRMAA_ERRNO_INVALID_ATTRIBUTE_VALUE, "get unset vector");

    EXPECT(drmaa_set_attribute(jt, DRMAA_JS_STATE, "x", D, DL), DRMAA_ERRNO_INVALID_ATTRIBUTE_VALUE, "js_state \"x\"");
    EXPECT(drmaa_set_attribute(jt, DRMAA_JS_STATE, DRMAA_SUBMISSION_STATE_HOLD, D, DL), DRMAA_ERRNO_SUCCESS, "js_state hold");
    EXPECT(drmaa_set_attribute(jt, DRMAA_JS_STATE, DRMAA_SUBMISSION_STATE_ACTIVE, D, DL), DRMAA_ERRNO_SUCCESS, "js_state active");
    EXPECT(drmaa_set_attribute(jt, DRMAA_JOIN_FILES, "yes", D, DL), DRMAA_ERRNO_INVALID_ATTRIBUTE_VALUE, "join_files \"yes\"");
    EXPECT(drmaa_set_attribute(jt, DRMAA_JOIN_FILES, "n", D, DL), DRMAA_ERRNO_SUCCESS, "join_files \"n\"");
    EXPECT(drmaa_set_attribute(jt, DRMAA_WCT_HLIMIT, "", D, DL), DRMAA_ERRNO_INVALID_ATTRIBUTE_FORMAT, "wct_hlimit \"\" (item 32)");

    /* Round trip and truncation (20, 29, 92-style for attribute values). */
    const char *path = ":" DRMAA_PLACEHOLDER_HD "/pippo.out";
    EXPECT(drmaa_set_attribute(jt, DRMAA_OUTPUT_PATH, path, D, DL), DRMAA_ERRNO_SUCCESS, "set output_path");
    EXPECT(drmaa_get_attribute(jt, DRMAA_OUTPUT_PATH, value, sizeof value, D, DL), DRMAA_ERRNO_SUCCESS, "get output_path");
    CHECK(strcmp(value, path) == 0, "output_path round-trips: '%s'", value);
    EXPECT(drmaa_set_attribute(jt, DRMAA_JOB_NAME, "abcdefgh", D, DL), DRMAA_ERRNO_SUCCESS, "set job_name");
    memset(value, 'Q', sizeof value);
    EXPECT(drmaa_get_attribute(jt, DRMAA_JOB_NAME, value, 5, D, DL), DRMAA_ERRNO_SUCCESS, "get job_name into 5 bytes");
    CHECK(memcmp(value, "abcd", 5) == 0, "5-byte buffer holds 4 chars + NUL");
    CHECK(value[5] == 'Q', "byte 6 not written");
    memset(value, 'Q', sizeof value);
    EXPECT(drmaa_get_attribute(jt, DRMAA_JOB_NAME, value, 0, D, DL), DRMAA_ERRNO_SUCCESS, "get job_name into 0 bytes");
    CHECK(value[0] == 'Q', "0-byte buffer untouched");

    /* NULL arguments (30). */
    EXPECT(drmaa_set_attribute(NULL, DRMAA_JOB_NAME, "x", D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "set_attribute(NULL jt)");
    EXPECT(drmaa_set_attribute(jt, NULL, "x", D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "set_attribute(NULL name)");
    EXPECT(drmaa_set_attribute(jt, DRMAA_JOB_NAME, NULL, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "set_attribute(NULL value)");
    EXPECT(drmaa_get_attribute(NULL, DRMAA_JOB_NAME, value, sizeof value, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "get_attribute(NULL jt)");
    EXPECT(drmaa_get_attribute(jt, NULL, value, sizeof value, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "get_attribute(NULL name)");
    EXPECT(drmaa_get_attribute(jt, DRMAA_JOB_NAME, NULL, 10, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "get_attribute(NULL value)");
    EXPECT(drmaa_set_vector_attribute(NULL, DRMAA_V_ARGV, vals, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "set_vector_attribute(NULL jt)");
    EXPECT(drmaa_set_vector_attribute(jt, NULL, vals, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "set_vector_attribute(NULL name)");
    EXPECT(drmaa_set_vector_attribute(jt, DRMAA_V_ARGV, NULL, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "set_vector_attribute(NULL value)");
    EXPECT(drmaa_get_vector_attribute(jt, DRMAA_V_ARGV, NULL, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "get_vector_attribute(NULL values)");
    EXPECT(drmaa_get_attribute_names(NULL, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "get_attribute_names(NULL)");

    /* Garbage handles are rejected, not dereferenced. */
    long junk[8] = {0};
    EXPECT(drmaa_set_attribute((drmaa_job_template_t *)junk, DRMAA_JOB_NAME, "x", D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "set_attribute(garbage jt)");
    EXPECT(drmaa_delete_job_template((drmaa_job_template_t *)junk, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "delete_job_template(garbage)");
    int n = -1;
    CHECK(drmaa_get_num_attr_values((drmaa_attr_values_t *)junk, &n) == DRMAA_ERRNO_INVALID_ARGUMENT, "get_num_attr_values(garbage) = 4");
    CHECK(drmaa_get_next_attr_value((drmaa_attr_values_t *)junk, value, sizeof value) == DRMAA_ERRNO_INVALID_ARGUMENT, "get_next_attr_value(garbage) = 4");
    drmaa_release_attr_values((drmaa_attr_values_t *)junk);
    CHECK(junk[0] == 0, "release_attr_values(garbage) ignored");

    /* Vector round trip, empty vector (28). */
    EXPECT(drmaa_set_vector_attribute(jt, DRMAA_V_ARGV, vals, D, DL), DRMAA_ERRNO_SUCCESS, "set v_argv");
    EXPECT(drmaa_get_vector_attribute(jt, DRMAA_V_ARGV, &values, D, DL), DRMAA_ERRNO_SUCCESS, "get v_argv");
    n = -1;
    CHECK(drmaa_get_num_attr_values(values, &n) == DRMAA_ERRNO_SUCCESS && n == 2, "v_argv has 2 values (%d)", n);
    char item[64];
    CHECK(drmaa_get_next_attr_value(values, item, sizeof item) == DRMAA_ERRNO_SUCCESS && strcmp(item, "a") == 0, "first value 'a'");
    CHECK(drmaa_get_next_attr_value(values, item, sizeof item) == DRMAA_ERRNO_SUCCESS && strcmp(item, "b c") == 0, "second value 'b c'");
    CHECK(drmaa_get_next_attr_value(values, item, sizeof item) == DRMAA_ERRNO_NO_MORE_ELEMENTS, "then 25");
    drmaa_release_attr_values(values);
    const char *empty[] = {NULL};
    EXPECT(drmaa_set_vector_attribute(jt, DRMAA_V_EMAIL, empty, D, DL), DRMAA_ERRNO_SUCCESS, "set empty v_email");
    EXPECT(drmaa_get_vector_attribute(jt, DRMAA_V_EMAIL, &values, D, DL), DRMAA_ERRNO_SUCCESS, "get empty v_email");
    CHECK(drmaa_get_num_attr_values(values, &n) == DRMAA_ERRNO_SUCCESS && n == 0, "empty vector has 0 values (%d)", n);
    CHECK(drmaa_get_next_attr_value(values, item, sizeof item) == DRMAA_ERRNO_NO_MORE_ELEMENTS, "empty vector: 25");
    drmaa_release_attr_values(values);

    EXPECT(drmaa_delete_job_template(jt, D, DL), DRMAA_ERRNO_SUCCESS, "delete_job_template");
    EXPECT(drmaa_delete_job_template(jt, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "delete_job_template twice");
    EXPECT(drmaa_set_attribute(jt, DRMAA_JOB_NAME, "x", D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "set_attribute on a deleted template");
}

static void test_vectors(void) {
    section("string vectors (items 26, 27, 88, 89, 90, 91, 92)");
    drmaa_attr_names_t *names = NULL;
    EXPECT(drmaa_get_attribute_names(&names, D, DL), DRMAA_ERRNO_SUCCESS, "get_attribute_names");
    int total = -1;
    CHECK(drmaa_get_num_attr_names(names, &total) == DRMAA_ERRNO_SUCCESS && total >= 12, "at least 12 scalar names (%d)", total);
    char name[DRMAA_ATTR_BUFFER];
    int seen = 0, mandatory = 0;
    const char *must[] = {DRMAA_REMOTE_COMMAND, DRMAA_JS_STATE, DRMAA_WD, DRMAA_JOB_CATEGORY, DRMAA_NATIVE_SPECIFICATION,
                          DRMAA_BLOCK_EMAIL, DRMAA_START_TIME, DRMAA_JOB_NAME, DRMAA_INPUT_PATH, DRMAA_OUTPUT_PATH,
                          DRMAA_ERROR_PATH, DRMAA_JOIN_FILES};
    /* Advance two elements, then check the count is still the total (90). */
    CHECK(drmaa_get_next_attr_name(names, name, sizeof name) == DRMAA_ERRNO_SUCCESS, "first name");
    for (size_t i = 0; i < sizeof must / sizeof *must; i++) if (!strcmp(name, must[i])) mandatory++;
    seen++;
    CHECK(drmaa_get_next_attr_name(names, NULL, 0) == DRMAA_ERRNO_SUCCESS, "NULL buffer advances");
    seen++;
    int again = -1;
    CHECK(drmaa_get_num_attr_names(names, &again) == DRMAA_ERRNO_SUCCESS && again == total, "get_num after partial iteration = %d", again);
    drmaa_release_attr_names(names);

    EXPECT(drmaa_get_attribute_names(&names, D, DL), DRMAA_ERRNO_SUCCESS, "get_attribute_names again");
    seen = 0;
    mandatory = 0;
    while (drmaa_get_next_attr_name(names, name, sizeof name) == DRMAA_ERRNO_SUCCESS) {
        seen++;
        for (size_t i = 0; i < sizeof must / sizeof *must; i++) if (!strcmp(name, must[i])) mandatory++;
    }
    CHECK(seen == total, "iterated %d of %d names", seen, total);
    CHECK(mandatory == 12, "all 12 mandatory scalar names listed (%d)", mandatory);
    for (int i = 0; i < 3; i++)
        CHECK(drmaa_get_next_attr_name(names, name, sizeof name) == DRMAA_ERRNO_NO_MORE_ELEMENTS, "25 after the end, call %d", i + 1);
    drmaa_release_attr_names(names);

    EXPECT(drmaa_get_vector_attribute_names(&names, D, DL), DRMAA_ERRNO_SUCCESS, "get_vector_attribute_names");
    int vseen = 0, argv = 0, env = 0, email = 0;
    /* Truncation (92): 5-byte buffer gets 4 chars + NUL, byte 6 untouched. */
    memset(name, 'Q', sizeof name);
    CHECK(drmaa_get_next_attr_name(names, name, 5) == DRMAA_ERRNO_SUCCESS, "get_next into 5 bytes");
    CHECK(name[4] == 0 && strlen(name) == 4 && name[5] == 'Q', "truncated to 4 chars + NUL, byte 6 untouched");
    drmaa_release_attr_names(names);
    EXPECT(drmaa_get_vector_attribute_names(&names, D, DL), DRMAA_ERRNO_SUCCESS, "get_vector_attribute_names again");
    while (drmaa_get_next_attr_name(names, name, sizeof name) == DRMAA_ERRNO_SUCCESS) {
        vseen++;
        argv += !strcmp(name, DRMAA_V_ARGV);
        env += !strcmp(name, DRMAA_V_ENV);
        email += !strcmp(name, DRMAA_V_EMAIL);
    }
    CHECK(vseen == 3 && argv && env && email, "vector names are argv, env, email");
    drmaa_release_attr_names(names);

    /* NULL vectors (89, 91) and NULL size. */
    CHECK(drmaa_get_next_attr_name(NULL, name, sizeof name) == DRMAA_ERRNO_NO_MORE_ELEMENTS, "get_next_attr_name(NULL) = 25");
    CHECK(drmaa_get_next_attr_value(NULL, name, sizeof name) == DRMAA_ERRNO_NO_MORE_ELEMENTS, "get_next_attr_value(NULL) = 25");
    CHECK(drmaa_get_next_job_id(NULL, name, sizeof name) == DRMAA_ERRNO_NO_MORE_ELEMENTS, "get_next_job_id(NULL) = 25");
    int n = 0;
    CHECK(drmaa_get_num_attr_names(NULL, &n) == DRMAA_ERRNO_INVALID_ARGUMENT, "get_num_attr_names(NULL) = 4");
    CHECK(drmaa_get_num_attr_values(NULL, &n) == DRMAA_ERRNO_INVALID_ARGUMENT, "get_num_attr_values(NULL) = 4");
    CHECK(drmaa_get_num_job_ids(NULL, &n) == DRMAA_ERRNO_INVALID_ARGUMENT, "get_num_job_ids(NULL) = 4");
    EXPECT(drmaa_get_vector_attribute_names(&names, D, DL), DRMAA_ERRNO_SUCCESS, "get_vector_attribute_names");
    CHECK(drmaa_get_num_attr_names(names, NULL) == DRMAA_ERRNO_INVALID_ARGUMENT, "get_num_attr_names(v, NULL) = 4");
    drmaa_release_attr_names(names);
    drmaa_release_attr_names(NULL);
    drmaa_release_attr_values(NULL);
    drmaa_release_job_ids(NULL);
    CHECK(1, "release_*(NULL) did not crash");
}

static void test_w_helpers(void) {
    section("stat decoders (items 80, 81, 82)");
    int stats[] = {0, -1, 1, 0x31, 0x9002, 0x8, 0x7fffffff, (int)0x80000000, 12345, -424242, 0x0F, 0xFFFF};
    for (size_t i = 0; i < sizeof stats / sizeof *stats; i++) {
        int s = stats[i], v;
        v = -5; EXPECT(drmaa_wifexited(&v, s, D, DL), DRMAA_ERRNO_SUCCESS, "wifexited");   CHECK(v == 0 || v == 1, "wifexited(%#x) = %d", s, v);
        v = -5; EXPECT(drmaa_wifsignaled(&v, s, D, DL), DRMAA_ERRNO_SUCCESS, "wifsignaled"); CHECK(v == 0 || v == 1, "wifsignaled(%#x) = %d", s, v);
        v = -5; EXPECT(drmaa_wcoredump(&v, s, D, DL), DRMAA_ERRNO_SUCCESS, "wcoredump");     CHECK(v == 0 || v == 1, "wcoredump(%#x) = %d", s, v);
        v = -5; EXPECT(drmaa_wifaborted(&v, s, D, DL), DRMAA_ERRNO_SUCCESS, "wifaborted");   CHECK(v == 0 || v == 1, "wifaborted(%#x) = %d", s, v);
        v = -5; EXPECT(drmaa_wexitstatus(&v, s, D, DL), DRMAA_ERRNO_SUCCESS, "wexitstatus"); CHECK(v >= 0 && v <= 255, "wexitstatus(%#x) = %d", s, v);
        char sig[DRMAA_SIGNAL_BUFFER];
        EXPECT(drmaa_wtermsig(sig, sizeof sig, s, D, DL), DRMAA_ERRNO_SUCCESS, "wtermsig");
        CHECK(memchr(sig, 0, sizeof sig) != NULL, "wtermsig(%#x) NUL-terminated", s);
    }
    int v;
    EXPECT(drmaa_wifexited(&v, 0, D, DL), DRMAA_ERRNO_SUCCESS, "wifexited(0)"); CHECK(v == 0, "wifexited(0) = 0");
    EXPECT(drmaa_wexitstatus(&v, 0, D, DL), DRMAA_ERRNO_SUCCESS, "wexitstatus(0)"); CHECK(v == 0, "wexitstatus(0) = 0");
    EXPECT(drmaa_wifsignaled(&v, 0, D, DL), DRMAA_ERRNO_SUCCESS, "wifsignaled(0)"); CHECK(v == 0, "wifsignaled(0) = 0");
    EXPECT(drmaa_wcoredump(&v, 0, D, DL), DRMAA_ERRNO_SUCCESS, "wcoredump(0)"); CHECK(v == 0, "wcoredump(0) = 0");
    EXPECT(drmaa_wifaborted(&v, 0, D, DL), DRMAA_ERRNO_SUCCESS, "wifaborted(0)"); CHECK(v == 0, "wifaborted(0) = 0");

    char sig[DRMAA_SIGNAL_BUFFER] = "junk";
    EXPECT(drmaa_wtermsig(sig, sizeof sig, 0x31, D, DL), DRMAA_ERRNO_SUCCESS, "wtermsig(exit 3)");
    CHECK(sig[0] == 0, "wtermsig of a non-signalled stat is \"\" ('%s')", sig);
    EXPECT(drmaa_wtermsig(NULL, 0, 0x31, D, DL), DRMAA_ERRNO_SUCCESS, "wtermsig(NULL buffer)");

    /* A stat from a real SIGKILL is checked in test_jobs; truncation with 4 bytes here, using
       whatever stat makes wifsignaled 1 among a few candidates. */
    int kill_stat = 0;
    for (int s = 1; s < 0x100000 && !kill_stat; s = s * 2 + 1) {
        int sg = 0;
        drmaa_wifsignaled(&sg, s, NULL, 0);
        if (sg == 1) kill_stat = s;
    }
    if (kill_stat) {
        memset(sig, 'Q', sizeof sig);
        EXPECT(drmaa_wtermsig(sig, 4, kill_stat, D, DL), DRMAA_ERRNO_SUCCESS, "wtermsig into 4 bytes");
        CHECK(sig[3] == 0 && strlen(sig) == 3 && sig[4] == 'Q', "wtermsig truncated to 3 chars + NUL ('%s')", sig);
    }

    EXPECT(drmaa_wifexited(NULL, 0, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "wifexited(NULL)");
    EXPECT(drmaa_wexitstatus(NULL, 0, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "wexitstatus(NULL)");
    EXPECT(drmaa_wifsignaled(NULL, 0, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "wifsignaled(NULL)");
    EXPECT(drmaa_wcoredump(NULL, 0, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "wcoredump(NULL)");
    EXPECT(drmaa_wifaborted(NULL, 0, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "wifaborted(NULL)");
}

static void test_jobs(void) {
    section("jobs (items 33, 53, 71, 79, 86, and stat/rusage from real jobs)");
    char id[DRMAA_JOBNAME_BUFFER], out[DRMAA_JOBNAME_BUFFER];
    drmaa_job_template_t *jt = NULL;
    EXPECT(drmaa_allocate_job_template(&jt, D, DL), DRMAA_ERRNO_SUCCESS, "allocate_job_template");
    EXPECT(drmaa_run_job(id, sizeof id, jt, D, DL), DRMAA_ERRNO_DENIED_BY_DRM, "run_job without remote_command");
    EXPECT(drmaa_run_job(NULL, 0, jt, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "run_job(NULL job_id)");
    EXPECT(drmaa_run_job(id, sizeof id, NULL, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "run_job(NULL jt)");
    drmaa_delete_job_template(jt, NULL, 0);

    EXPECT(drmaa_control("1", 99, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "control(action 99)");
    EXPECT(drmaa_control("1", -1, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "control(action -1)");
    EXPECT(drmaa_control(NULL, DRMAA_CONTROL_TERMINATE, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "control(NULL id)");
    EXPECT(drmaa_control("999999", DRMAA_CONTROL_TERMINATE, D, DL), DRMAA_ERRNO_INVALID_JOB, "control(unknown id)");
    int ps = -1;
    EXPECT(drmaa_job_ps(NULL, &ps, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "job_ps(NULL id)");
    EXPECT(drmaa_job_ps("1", NULL, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "job_ps(NULL remote_ps)");
    EXPECT(drmaa_job_ps("999999", &ps, D, DL), DRMAA_ERRNO_INVALID_JOB, "job_ps(unknown id)");
    EXPECT(drmaa_wait(NULL, out, sizeof out, NULL, 0, NULL, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "wait(NULL id)");
    EXPECT(drmaa_wait(DRMAA_JOB_IDS_SESSION_ANY, out, sizeof out, NULL, 0, NULL, D, DL), DRMAA_ERRNO_INVALID_JOB, "wait(ANY) with no jobs");
    EXPECT(drmaa_wait("1", out, sizeof out, NULL, -5, NULL, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "wait with timeout -5");

    const char *empty[] = {NULL};
    EXPECT(drmaa_synchronize(empty, DRMAA_TIMEOUT_WAIT_FOREVER, 0, D, DL), DRMAA_ERRNO_SUCCESS, "synchronize(empty list)");
    EXPECT(drmaa_synchronize(NULL, DRMAA_TIMEOUT_WAIT_FOREVER, 0, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "synchronize(NULL)");
    const char *unknown[] = {"1", "2", "x", NULL};
    EXPECT(drmaa_synchronize(unknown, DRMAA_TIMEOUT_WAIT_FOREVER, 1, D, DL), DRMAA_ERRNO_SUCCESS, "synchronize(unknown ids)");

    /* exit 3 (63, 70). */
    const char *exit3[] = {"-c", "exit 3", NULL};
    jt = template_for("/bin/sh", exit3);
    EXPECT(drmaa_run_job(id, sizeof id, jt, D, DL), DRMAA_ERRNO_SUCCESS, "run_job exit 3");
    CHECK(id[0] != 0 && strlen(id) < 128, "job id '%s'", id);
    int stat = -1;
    drmaa_attr_values_t *rusage = NULL;
    EXPECT(drmaa_wait(id, out, sizeof out, &stat, DRMAA_TIMEOUT_WAIT_FOREVER, &rusage, D, DL), DRMAA_ERRNO_SUCCESS, "wait exit 3");
    CHECK(strcmp(out, id) == 0, "job_id_out '%s' = '%s'", out, id);
    int v = -1;
    drmaa_wifexited(&v, stat, NULL, 0); CHECK(v == 1, "exit 3: exited %d", v);
    drmaa_wexitstatus(&v, stat, NULL, 0); CHECK(v == 3, "exit 3: status %d", v);
    drmaa_wifaborted(&v, stat, NULL, 0); CHECK(v == 0, "exit 3: aborted %d", v);
    int entries = 0, with_eq = 0;
    char entry[DRMAA_ATTR_BUFFER];
    CHECK(rusage != NULL, "rusage returned");
    while (rusage && drmaa_get_next_attr_value(rusage, entry, sizeof entry) == DRMAA_ERRNO_SUCCESS) {
        entries++;
        with_eq += strchr(entry, '=') != NULL;
    }
    CHECK(entries > 0 && entries == with_eq, "%d rusage entries, %d with '='", entries, with_eq);
    drmaa_release_attr_values(rusage);
    EXPECT(drmaa_wait(id, out, sizeof out, &stat, 0, NULL, D, DL), DRMAA_ERRNO_INVALID_JOB, "wait on a reaped job");
    EXPECT(drmaa_job_ps(id, &ps, D, DL), DRMAA_ERRNO_INVALID_JOB, "job_ps on a reaped job");

    /* wait with NULL job_id_out, stat and rusage (71). */
    EXPECT(drmaa_run_job(id, sizeof id, jt, D, DL), DRMAA_ERRNO_SUCCESS, "run_job");
    EXPECT(drmaa_wait(id, NULL, 0, NULL, DRMAA_TIMEOUT_WAIT_FOREVER, NULL, NULL, 0), DRMAA_ERRNO_SUCCESS, "wait with NULL outputs");

    /* Truncated job id on run_job. */
    memset(id, 'Q', sizeof id);
    EXPECT(drmaa_run_job(id, 1, jt, D, DL), DRMAA_ERRNO_SUCCESS, "run_job with a 1-byte id buffer");
    CHECK(id[0] == 0 && id[1] == 'Q', "1-byte id buffer holds only NUL");
    EXPECT(drmaa_wait(DRMAA_JOB_IDS_SESSION_ANY, id, sizeof id, NULL, DRMAA_TIMEOUT_WAIT_FOREVER, NULL, D, DL), DRMAA_ERRNO_SUCCESS, "wait(ANY)");
    drmaa_delete_job_template(jt, NULL, 0);

    /* SIGKILL (64) and 4-byte wtermsig with a real stat (81). */
    const char *selfkill[] = {"-c", "kill -9 $$", NULL};
    jt = template_for("/bin/sh", selfkill);
    EXPECT(drmaa_run_job(id, sizeof id, jt, D, DL), DRMAA_ERRNO_SUCCESS, "run_job kill -9 $$");
    EXPECT(drmaa_wait(id, out, sizeof out, &stat, DRMAA_TIMEOUT_WAIT_FOREVER, NULL, D, DL), DRMAA_ERRNO_SUCCESS, "wait self-killed job");
    drmaa_wifsignaled(&v, stat, NULL, 0); CHECK(v == 1, "signaled %d", v);
    drmaa_wifexited(&v, stat, NULL, 0); CHECK(v == 0, "exited %d", v);
    char sig[DRMAA_SIGNAL_BUFFER];
    drmaa_wtermsig(sig, sizeof sig, stat, NULL, 0); CHECK(strcmp(sig, "SIGKILL") == 0, "termsig '%s'", sig);
    memset(sig, 'Q', sizeof sig);
    drmaa_wtermsig(sig, 4, stat, NULL, 0); CHECK(memcmp(sig, "SIG", 4) == 0 && sig[4] == 'Q', "4-byte termsig 'SIG'");
    drmaa_delete_job_template(jt, NULL, 0);

    /* Held job: job_ps 0x12, terminate, wait 24 with job_id_out and stat filled (60). */
    const char *sleep5[] = {"5", NULL};
    jt = template_for("/bin/sleep", sleep5);
    EXPECT(drmaa_set_attribute(jt, DRMAA_JS_STATE, DRMAA_SUBMISSION_STATE_HOLD, D, DL), DRMAA_ERRNO_SUCCESS, "js_state hold");
    EXPECT(drmaa_run_job(id, sizeof id, jt, D, DL), DRMAA_ERRNO_SUCCESS, "run held job");
    EXPECT(drmaa_job_ps(id, &ps, D, DL), DRMAA_ERRNO_SUCCESS, "job_ps held job");
    CHECK(ps == DRMAA_PS_USER_ON_HOLD, "held job state %#x", ps);
    EXPECT(drmaa_wait(id, out, sizeof out, &stat, DRMAA_TIMEOUT_NO_WAIT, &rusage, D, DL), DRMAA_ERRNO_EXIT_TIMEOUT, "wait(NO_WAIT) on a held job");
    EXPECT(drmaa_control(id, DRMAA_CONTROL_SUSPEND, D, DL), DRMAA_ERRNO_SUSPEND_INCONSISTENT_STATE, "suspend held job");
    EXPECT(drmaa_control(id, DRMAA_CONTROL_TERMINATE, D, DL), DRMAA_ERRNO_SUCCESS, "terminate held job");
    out[0] = 0;
    stat = -1;
    rusage = NULL;
    EXPECT(drmaa_wait(id, out, sizeof out, &stat, DRMAA_TIMEOUT_WAIT_FOREVER, &rusage, D, DL), DRMAA_ERRNO_NO_RUSAGE, "wait terminated held job");
    CHECK(strcmp(out, id) == 0, "job_id_out filled on NO_RUSAGE ('%s')", out);
    drmaa_wifaborted(&v, stat, NULL, 0); CHECK(v == 1, "aborted %d (stat %#x)", v, stat);
    CHECK(rusage == NULL, "rusage untouched on NO_RUSAGE");
    EXPECT(drmaa_wait(id, out, sizeof out, &stat, 0, NULL, D, DL), DRMAA_ERRNO_INVALID_JOB, "second wait after NO_RUSAGE");

    /* Bulk jobs (43, 44, 45). */
    drmaa_job_ids_t *ids = NULL;
    EXPECT(drmaa_run_bulk_jobs(&ids, jt, 0, 2, 1, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "run_bulk_jobs start 0");
    EXPECT(drmaa_run_bulk_jobs(&ids, jt, 3, 2, 1, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "run_bulk_jobs end < start");
    EXPECT(drmaa_run_bulk_jobs(&ids, jt, 1, 2, 0, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "run_bulk_jobs incr 0");
    EXPECT(drmaa_run_bulk_jobs(NULL, jt, 1, 2, 1, D, DL), DRMAA_ERRNO_INVALID_ARGUMENT, "run_bulk_jobs(NULL ids)");
    EXPECT(drmaa_run_bulk_jobs(&ids, jt, 1, 10, 3, D, DL), DRMAA_ERRNO_SUCCESS, "run_bulk_jobs 1..10 step 3");
    int count = -1;
    CHECK(drmaa_get_num_job_ids(ids, &count) == DRMAA_ERRNO_SUCCESS && count == 4, "4 bulk ids (%d)", count);
    /* Task ids: LocalDRM's <job>.<index>, Slurm's <job>_<index>. */
    const char *want[] = {".1", ".4", ".7", ".10"}, *want_slurm[] = {"_1", "_4", "_7", "_10"};
    for (int i = 0; i < 4; i++) {
        char bid[DRMAA_JOBNAME_BUFFER] = "";
        CHECK(drmaa_get_next_job_id(ids, bid, sizeof bid) == DRMAA_ERRNO_SUCCESS, "bulk id %d", i);
        if (on_slurm()) want[i] = want_slurm[i];
        const char *dot = strchr(bid, want[i][0]);
        CHECK(dot && strcmp(dot, want[i]) == 0, "bulk id '%s' ends in %s", bid, want[i]);
        EXPECT(drmaa_job_ps(bid, &ps, D, DL), DRMAA_ERRNO_SUCCESS, "job_ps bulk task");
        CHECK(ps == DRMAA_PS_USER_ON_HOLD, "bulk task held (%#x)", ps);
    }
    CHECK(drmaa_get_next_job_id(ids, out, sizeof out) == DRMAA_ERRNO_NO_MORE_ELEMENTS, "bulk ids: 25 at the end");
    CHECK(drmaa_get_num_job_ids(ids, &count) == DRMAA_ERRNO_SUCCESS && count == 4, "get_num_job_ids after iterating (%d)", count);
    drmaa_release_job_ids(ids);
    EXPECT(drmaa_control(DRMAA_JOB_IDS_SESSION_ALL, DRMAA_CONTROL_TERMINATE, D, DL), DRMAA_ERRNO_SUCCESS, "control(SESSION_ALL, TERMINATE)");
    const char *all[] = {DRMAA_JOB_IDS_SESSION_ALL, NULL};
    EXPECT(drmaa_synchronize(all, 10, 1, D, DL), DRMAA_ERRNO_SUCCESS, "synchronize(SESSION_ALL, dispose)");
    EXPECT(drmaa_wait(DRMAA_JOB_IDS_SESSION_ANY, out, sizeof out, &stat, 0, NULL, D, DL), DRMAA_ERRNO_INVALID_JOB, "wait(ANY) after disposing everything");
    drmaa_delete_job_template(jt, NULL, 0);

    /* Running job: job_ps RUNNING, wait timeouts, synchronize timeouts (67, 78, 84). */
    const char *sleep30[] = {"30", NULL};
    jt = template_for("/bin/sleep", sleep30);
    EXPECT(drmaa_run_job(id, sizeof id, jt, D, DL), DRMAA_ERRNO_SUCCESS, "run sleep 30");
    for (int i = 0; i < 50; i++) {
        drmaa_job_ps(id, &ps, NULL, 0);
        if (ps == DRMAA_PS_RUNNING) break;
        usleep(100000);
    }
    CHECK(ps == DRMAA_PS_RUNNING, "sleep 30 is running (%#x)", ps);
    EXPECT(drmaa_wait(id, out, sizeof out, &stat, DRMAA_TIMEOUT_NO_WAIT, NULL, D, DL), DRMAA_ERRNO_EXIT_TIMEOUT, "wait(NO_WAIT) on running job");
    const char *one[] = {id, NULL};
    EXPECT(drmaa_synchronize(one, DRMAA_TIMEOUT_NO_WAIT, 0, D, DL), DRMAA_ERRNO_EXIT_TIMEOUT, "synchronize(NO_WAIT) on running job");
    EXPECT(drmaa_control(id, DRMAA_CONTROL_RESUME, D, DL), DRMAA_ERRNO_RESUME_INCONSISTENT_STATE, "resume running job");
    EXPECT(drmaa_control(id, DRMAA_CONTROL_SUSPEND, D, DL), DRMAA_ERRNO_SUCCESS, "suspend running job");
    EXPECT(drmaa_job_ps(id, &ps, D, DL), DRMAA_ERRNO_SUCCESS, "job_ps suspended");
    CHECK(ps == DRMAA_PS_USER_SUSPENDED, "suspended state %#x", ps);
    EXPECT(drmaa_control(id, DRMAA_CONTROL_RESUME, D, DL), DRMAA_ERRNO_SUCCESS, "resume");
    EXPECT(drmaa_control(id, DRMAA_CONTROL_TERMINATE, D, DL), DRMAA_ERRNO_SUCCESS, "terminate running job");
    EXPECT(drmaa_wait(id, out, sizeof out, &stat, 10, &rusage, D, DL), DRMAA_ERRNO_SUCCESS, "wait terminated running job");
    drmaa_wifaborted(&v, stat, NULL, 0); CHECK(v == 1, "terminated running job: aborted %d", v);
    drmaa_wifsignaled(&v, stat, NULL, 0); CHECK(v == 0, "terminated running job: signaled %d", v);
    drmaa_release_attr_values(rusage);
    drmaa_delete_job_template(jt, NULL, 0);
}

/* The value of the usage entry `name=` of a finished job, copied into `value` ("" if absent). */
static void usage_entry(drmaa_attr_values_t *rusage, const char *name, char *value, size_t size) {
    char entry[2048];
    size_t length = strlen(name);
    value[0] = 0;
    while (drmaa_get_next_attr_value(rusage, entry, sizeof entry) == DRMAA_ERRNO_SUCCESS) {
        if (strncmp(entry, name, length) == 0 && entry[length] == '=') {
            snprintf(value, size, "%s", entry + length + 1);
            return;
        }
    }
}

/* Waits for `id` and returns its usage entry `name` in `value`. */
static void wait_for_entry(const char *id, const char *name, char *value, size_t size) {
    char out[DRMAA_JOBNAME_BUFFER];
    int stat = -1;
    drmaa_attr_values_t *rusage = NULL;
    value[0] = 0;
    EXPECT(drmaa_wait(id, out, sizeof out, &stat, DRMAA_TIMEOUT_WAIT_FOREVER, &rusage, D, DL), DRMAA_ERRNO_SUCCESS, "wait");
    if (!rusage) return;
    usage_entry(rusage, name, value, size);
    drmaa_release_attr_values(rusage);
}

static void test_reasons(void) {
    section("why a job did not start or was killed: drmaa_abort_reason and drmaa_kill_reason in the usage list");
    if (on_slurm()) {
        printf("skipped on Slurm: these are LocalDRM's own reasons (the Slurm backend's are checked by its Swift tests)\n");
        return;
    }
    char id[DRMAA_JOBNAME_BUFFER], value[2048];
    /* An input path naming a directory cannot start. */
    drmaa_job_template_t *jt = template_for("/bin/cat", NULL);
    EXPECT(drmaa_set_attribute(jt, DRMAA_INPUT_PATH, ":/", D, DL), DRMAA_ERRNO_SUCCESS, "set input_path to a directory");
    EXPECT(drmaa_run_job(id, sizeof id, jt, D, DL), DRMAA_ERRNO_SUCCESS, "run_job with a directory as input");
    wait_for_entry(id, "drmaa_abort_reason", value, sizeof value);
    CHECK(strstr(value, "'/' is a directory") != NULL, "drmaa_abort_reason names the directory: '%s'", value);
    drmaa_delete_job_template(jt, NULL, 0);

    /* A hard wall-clock limit kills the job: drmaa_kill_reason says so. */
    const char *sleep30[] = {"30", NULL};
    jt = template_for("/bin/sleep", sleep30);
    EXPECT(drmaa_set_attribute(jt, DRMAA_WCT_HLIMIT, "1", D, DL), DRMAA_ERRNO_SUCCESS, "set wct_hlimit");
    EXPECT(drmaa_run_job(id, sizeof id, jt, D, DL), DRMAA_ERRNO_SUCCESS, "run_job with a 1 s wall-clock limit");
    wait_for_entry(id, "drmaa_kill_reason", value, sizeof value);
    CHECK(strcmp(value, "killed with SIGKILL: it reached its drmaa_wct_hlimit of 1 s") == 0, "drmaa_kill_reason of the limit: '%s'", value);
    drmaa_delete_job_template(jt, NULL, 0);

    /* TERMINATE of a running job: both entries. */
    jt = template_for("/bin/sleep", sleep30);
    EXPECT(drmaa_run_job(id, sizeof id, jt, D, DL), DRMAA_ERRNO_SUCCESS, "run_job sleep 30");
    EXPECT(drmaa_control(id, DRMAA_CONTROL_TERMINATE, D, DL), DRMAA_ERRNO_SUCCESS, "terminate it");
    char out[DRMAA_JOBNAME_BUFFER], entry[2048];
    int stat = -1, aborted = 0, killed = 0;
    drmaa_attr_values_t *rusage = NULL;
    EXPECT(drmaa_wait(id, out, sizeof out, &stat, DRMAA_TIMEOUT_WAIT_FOREVER, &rusage, D, DL), DRMAA_ERRNO_SUCCESS, "wait for it");
    while (rusage && drmaa_get_next_attr_value(rusage, entry, sizeof entry) == DRMAA_ERRNO_SUCCESS) {
        aborted |= strcmp(entry, "drmaa_abort_reason=terminated through drmaa_control") == 0;
        killed |= strcmp(entry, "drmaa_kill_reason=terminated through drmaa_control: SIGTERM") == 0;
    }
    drmaa_release_attr_values(rusage);
    CHECK(aborted && killed, "a terminated job has both reasons (abort %d, kill %d)", aborted, killed);
    drmaa_delete_job_template(jt, NULL, 0);
}

static void test_diagnosis(void) {
    section("diagnosis buffers (items 93, 94, 95)");
    /* len 0: untouched. */
    fresh();
    CHECK(drmaa_job_ps(NULL, NULL, D, 0) == DRMAA_ERRNO_INVALID_ARGUMENT && untouched(), "len 0 leaves the diagnosis untouched");
    /* Small buffer: at most len bytes including NUL. */
    char small[8];
    memset(small, 'Q', sizeof small);
    CHECK(drmaa_job_ps(NULL, NULL, small, 5) == DRMAA_ERRNO_INVALID_ARGUMENT, "job_ps(NULL) with a 5-byte diagnosis");
    CHECK(small[4] == 0 && strlen(small) == 4 && small[5] == 'Q', "diagnosis truncated to 4 chars + NUL");
    memset(small, 'Q', sizeof small);
    CHECK(drmaa_job_ps(NULL, NULL, small, 1) == DRMAA_ERRNO_INVALID_ARGUMENT && small[0] == 0 && small[1] == 'Q', "1-byte diagnosis is just NUL");
    /* NULL diagnosis accepted by every function (93). */
    drmaa_job_template_t *jt = NULL;
    drmaa_attr_names_t *names = NULL;
    drmaa_attr_values_t *values = NULL;
    drmaa_job_ids_t *ids = NULL;
    char buf[64];
    int n;
    unsigned int a, b;
    const char *empty[] = {NULL};
    int ok = 1;
    ok &= drmaa_init(NULL, NULL, 0) == DRMAA_ERRNO_ALREADY_ACTIVE_SESSION;
    ok &= drmaa_allocate_job_template(NULL, NULL, 0) == DRMAA_ERRNO_INVALID_ARGUMENT;
    ok &= drmaa_allocate_job_template(&jt, NULL, 0) == DRMAA_ERRNO_SUCCESS;
    ok &= drmaa_set_attribute(jt, "bogus", "x", NULL, 0) == DRMAA_ERRNO_INVALID_ARGUMENT;
    ok &= drmaa_get_attribute(jt, DRMAA_WD, buf, sizeof buf, NULL, 0) == DRMAA_ERRNO_INVALID_ATTRIBUTE_VALUE;
    ok &= drmaa_set_vector_attribute(jt, "bogus", empty, NULL, 0) == DRMAA_ERRNO_INVALID_ARGUMENT;
    ok &= drmaa_get_vector_attribute(jt, DRMAA_V_ENV, &values, NULL, 0) == DRMAA_ERRNO_INVALID_ATTRIBUTE_VALUE;
    ok &= drmaa_get_attribute_names(&names, NULL, 0) == DRMAA_ERRNO_SUCCESS;
    drmaa_release_attr_names(names);
    ok &= drmaa_get_vector_attribute_names(&names, NULL, 0) == DRMAA_ERRNO_SUCCESS;
    drmaa_release_attr_names(names);
    ok &= drmaa_run_job(buf, sizeof buf, jt, NULL, 0) == DRMAA_ERRNO_DENIED_BY_DRM;
    ok &= drmaa_run_bulk_jobs(&ids, jt, 1, 1, 0, NULL, 0) == DRMAA_ERRNO_INVALID_ARGUMENT;
    ok &= drmaa_control("424242", DRMAA_CONTROL_HOLD, NULL, 0) == DRMAA_ERRNO_INVALID_JOB;
    ok &= drmaa_synchronize(NULL, 0, 0, NULL, 0) == DRMAA_ERRNO_INVALID_ARGUMENT;
    ok &= drmaa_wait("424242", buf, sizeof buf, &n, 0, NULL, NULL, 0) == DRMAA_ERRNO_INVALID_JOB;
    ok &= drmaa_wifexited(NULL, 0, NULL, 0) == DRMAA_ERRNO_INVALID_ARGUMENT;
    ok &= drmaa_wexitstatus(NULL, 0, NULL, 0) == DRMAA_ERRNO_INVALID_ARGUMENT;
    ok &= drmaa_wifsignaled(NULL, 0, NULL, 0) == DRMAA_ERRNO_INVALID_ARGUMENT;
    ok &= drmaa_wtermsig(buf, sizeof buf, 0, NULL, 0) == DRMAA_ERRNO_SUCCESS;
    ok &= drmaa_wcoredump(NULL, 0, NULL, 0) == DRMAA_ERRNO_INVALID_ARGUMENT;
    ok &= drmaa_wifaborted(NULL, 0, NULL, 0) == DRMAA_ERRNO_INVALID_ARGUMENT;
    ok &= drmaa_job_ps("424242", &n, NULL, 0) == DRMAA_ERRNO_INVALID_JOB;
    ok &= drmaa_get_contact(buf, sizeof buf, NULL, 0) == DRMAA_ERRNO_SUCCESS;
    ok &= drmaa_version(&a, &b, NULL, 0) == DRMAA_ERRNO_SUCCESS;
    ok &= drmaa_get_DRM_system(NULL, 0, NULL, 0) == DRMAA_ERRNO_INVALID_ARGUMENT;
    ok &= drmaa_get_DRMAA_implementation(NULL, 0, NULL, 0) == DRMAA_ERRNO_INVALID_ARGUMENT;
    ok &= drmaa_delete_job_template(jt, NULL, 0) == DRMAA_ERRNO_SUCCESS;
    CHECK(ok, "every function accepts error_diagnosis == NULL with the expected codes");
}

/* With one slot (DRMAA_LOCAL_SLOTS=1): control of many jobs is one action. While task 1 of a bulk
 * job runs, HOLD of the bulk id holds every queued task and TERMINATE of SESSION_ALL ends them all:
 * no other task ever starts (its output file, opened when a task starts, never appears). */
static void test_sweep_one_slot(void) {
    section("control(SESSION_ALL or a bulk id) is one action: with one slot, no queued task starts");
    const char *home = getenv("HOME");
    char path[4096];
    for (int i = 1; i <= 6; i++) {
        snprintf(path, sizeof path, "%s/sweep.%d", home ? home : ".", i);
        unlink(path);
    }
    const char *script[] = {"-c", "exec sleep 30", NULL};
    drmaa_job_template_t *jt = template_for("/bin/sh", script);
    EXPECT(drmaa_set_attribute(jt, DRMAA_OUTPUT_PATH, ":" DRMAA_PLACEHOLDER_HD "/sweep." DRMAA_PLACEHOLDER_INCR, D, DL),
           DRMAA_ERRNO_SUCCESS, "set output_path per task");
    drmaa_job_ids_t *ids = NULL;
    EXPECT(drmaa_run_bulk_jobs(&ids, jt, 1, 6, 1, D, DL), DRMAA_ERRNO_SUCCESS, "run_bulk_jobs 1..6");
    char task[6][DRMAA_JOBNAME_BUFFER];
    for (int i = 0; i < 6; i++) {
        task[i][0] = 0;
        CHECK(ids && drmaa_get_next_job_id(ids, task[i], sizeof task[i]) == DRMAA_ERRNO_SUCCESS, "task id %d", i + 1);
    }
    drmaa_release_job_ids(ids);
    int ps = 0;
    for (int i = 0; i < 1000 && ps != DRMAA_PS_RUNNING; i++) {
        drmaa_job_ps(task[0], &ps, NULL, 0);
        if (ps != DRMAA_PS_RUNNING) usleep(10000);
    }
    CHECK(ps == DRMAA_PS_RUNNING, "task 1 runs (%#x)", ps);

    char bulk[DRMAA_JOBNAME_BUFFER];
    snprintf(bulk, sizeof bulk, "%s", task[0]);
    char *dot = strchr(bulk, '.');
    if (dot) *dot = 0;
    EXPECT(drmaa_control(bulk, DRMAA_CONTROL_HOLD, D, DL), DRMAA_ERRNO_SUCCESS, "control(bulk id, HOLD) skips the running task");
    for (int i = 1; i < 6; i++) {
        EXPECT(drmaa_job_ps(task[i], &ps, D, DL), DRMAA_ERRNO_SUCCESS, "job_ps of a queued task");
        CHECK(ps == DRMAA_PS_USER_ON_HOLD, "task %d held (%#x)", i + 1, ps);
    }
    EXPECT(drmaa_control(bulk, DRMAA_CONTROL_RELEASE, D, DL), DRMAA_ERRNO_SUCCESS, "control(bulk id, RELEASE)");
    EXPECT(drmaa_control(DRMAA_JOB_IDS_SESSION_ALL, DRMAA_CONTROL_TERMINATE, D, DL), DRMAA_ERRNO_SUCCESS, "control(SESSION_ALL, TERMINATE)");
    int stat = 0, aborted = 0;
    drmaa_attr_values_t *rusage = NULL;
    EXPECT(drmaa_wait(task[0], NULL, 0, &stat, DRMAA_TIMEOUT_WAIT_FOREVER, &rusage, D, DL), DRMAA_ERRNO_SUCCESS, "wait for the running task");
    drmaa_release_attr_values(rusage);
    drmaa_wifaborted(&aborted, stat, NULL, 0);
    CHECK(aborted == 1, "task 1 aborted (stat %#x)", stat);
    for (int i = 1; i < 6; i++) {
        rusage = NULL;
        EXPECT(drmaa_wait(task[i], NULL, 0, &stat, DRMAA_TIMEOUT_NO_WAIT, &rusage, D, DL), DRMAA_ERRNO_NO_RUSAGE, "wait for a queued task: ended at once, never ran");
        drmaa_wifaborted(&aborted, stat, NULL, 0);
        CHECK(aborted == 1, "task %d aborted (stat %#x)", i + 1, stat);
        snprintf(path, sizeof path, "%s/sweep.%d", home ? home : ".", i + 1);
        CHECK(access(path, F_OK) != 0, "task %d never started (no %s)", i + 1, path);
    }
    drmaa_delete_job_template(jt, NULL, 0);
}

/* Run as `DRMAA_LOCAL_SLOTS=1 test_drmaa local-configuration` (and with an invalid value): LocalDRM's
 * settings reach C programs through the environment, and its native specification is checked. */
static int test_local_configuration(void) {
    const char *slots = getenv("DRMAA_LOCAL_SLOTS");
    section("LocalDRM configuration from C: DRMAA_LOCAL_SLOTS and drmaa_native_specification");
    if (!slots || strcmp(slots, "1") != 0) {
        EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_DRMS_INIT_FAILED, "init with an invalid DRMAA_LOCAL_SLOTS");
        CHECK(strstr(D, "DRMAA_LOCAL_SLOTS") != NULL, "the diagnosis names the variable: %s", D);
        printf("%d passed, %d failed\n", passed, failed);
        return failed ? 1 : 0;
    }
    EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_SUCCESS, "init with DRMAA_LOCAL_SLOTS=1");
    const char *sleep30[] = {"30", NULL};
    drmaa_job_template_t *jt = template_for("/bin/sleep", sleep30);
    char first[DRMAA_JOBNAME_BUFFER], second[DRMAA_JOBNAME_BUFFER];
    int ps = 0;
    EXPECT(drmaa_run_job(first, sizeof first, jt, D, DL), DRMAA_ERRNO_SUCCESS, "run the first job");
    EXPECT(drmaa_run_job(second, sizeof second, jt, D, DL), DRMAA_ERRNO_SUCCESS, "run the second job");
    EXPECT(drmaa_job_ps(first, &ps, D, DL), DRMAA_ERRNO_SUCCESS, "job_ps of the first job");
    CHECK(ps == DRMAA_PS_RUNNING, "the first job runs (%#x)", ps);
    EXPECT(drmaa_job_ps(second, &ps, D, DL), DRMAA_ERRNO_SUCCESS, "job_ps of the second job");
    CHECK(ps == DRMAA_PS_QUEUED_ACTIVE, "one slot: the second job is queued (%#x)", ps);
    EXPECT(drmaa_set_attribute(jt, DRMAA_NATIVE_SPECIFICATION, "--priority=5 --gpus=1", D, DL), DRMAA_ERRNO_SUCCESS, "set native_specification");
    EXPECT(drmaa_run_job(second, sizeof second, jt, D, DL), DRMAA_ERRNO_DENIED_BY_DRM, "run_job with a native option LocalDRM cannot honour");
    CHECK(strstr(D, "--gpus") != NULL, "the diagnosis names the option: %s", D);
    EXPECT(drmaa_set_attribute(jt, DRMAA_NATIVE_SPECIFICATION, "-shell yes -b yes -q all.q -l h_rt=1:00:00 -l h_vmme=1G", D, DL), DRMAA_ERRNO_SUCCESS, "set a Grid Engine specification with a typo");
    EXPECT(drmaa_run_job(second, sizeof second, jt, D, DL), DRMAA_ERRNO_DENIED_BY_DRM, "run_job with an unknown -l resource");
    CHECK(strstr(D, "h_vmme") != NULL, "the diagnosis names the resource: %s", D);
    EXPECT(drmaa_set_attribute(jt, DRMAA_NATIVE_SPECIFICATION, "-shell yes -b yes -q all.q -l h_rt=1:00:00", D, DL), DRMAA_ERRNO_SUCCESS, "set gridmap's Grid Engine specification");
    EXPECT(drmaa_run_job(second, sizeof second, jt, D, DL), DRMAA_ERRNO_SUCCESS, "run_job with Grid Engine's options");
    EXPECT(drmaa_delete_job_template(jt, D, DL), DRMAA_ERRNO_SUCCESS, "delete_job_template");
    EXPECT(drmaa_control(DRMAA_JOB_IDS_SESSION_ALL, DRMAA_CONTROL_TERMINATE, D, DL), DRMAA_ERRNO_SUCCESS, "terminate all");
    const char *all[] = {DRMAA_JOB_IDS_SESSION_ALL, NULL};
    EXPECT(drmaa_synchronize(all, DRMAA_TIMEOUT_WAIT_FOREVER, 1, D, DL), DRMAA_ERRNO_SUCCESS, "synchronize all");
    test_sweep_one_slot();
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "exit");
    return check_summary();
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "local-configuration") == 0) return test_local_configuration();
    test_without_session();
    EXPECT(drmaa_init(NULL, D, DL), DRMAA_ERRNO_SUCCESS, "init for the session tests");
    test_templates();
    test_vectors();
    test_w_helpers();
    test_jobs();
    test_reasons();
    test_diagnosis();
    EXPECT(drmaa_exit(D, DL), DRMAA_ERRNO_SUCCESS, "final exit");
    /* Calls after exit (10, 85). */
    const char *empty[] = {NULL};
    char id[DRMAA_JOBNAME_BUFFER];
    int ps;
    EXPECT(drmaa_control("1", DRMAA_CONTROL_TERMINATE, D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "control after exit");
    EXPECT(drmaa_wait(DRMAA_JOB_IDS_SESSION_ANY, id, sizeof id, NULL, 0, NULL, D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "wait after exit");
    EXPECT(drmaa_synchronize(empty, 0, 0, D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "synchronize after exit");
    EXPECT(drmaa_job_ps("1", &ps, D, DL), DRMAA_ERRNO_NO_ACTIVE_SESSION, "job_ps after exit");
    return check_summary();
}
