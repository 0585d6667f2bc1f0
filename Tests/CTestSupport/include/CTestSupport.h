// C helpers for the Swift test targets: what Swift cannot call (variadic syscall()).
#ifndef CTESTSUPPORT_H
#define CTESTSUPPORT_H

/// Drops CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER from the calling thread's effective
/// capabilities (capset(2) changes the calling thread only), so that file permissions apply to it as
/// to an ordinary user who owns the files: a test running as root sees what a user would. Returns 0,
/// or -1 with errno. The thread keeps them in its permitted set; it should end rather than go on.
int ctestsupport_drop_file_capabilities(void);

#endif
