#define _GNU_SOURCE 1
#include "include/CTestSupport.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

int ctestsupport_drop_file_capabilities(void) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &header, data) != 0) return -1;
    unsigned drop = (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH) | (1u << CAP_FOWNER);
    data[0].effective &= ~drop;
    return (int)syscall(SYS_capset, &header, data);
}
