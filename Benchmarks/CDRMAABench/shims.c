#include "include/CDRMAABench.h"
#include <malloc.h>

size_t drmaabench_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

void drmaabench_trim(void) { malloc_trim(0); }
