#ifndef CDRMAABENCH_H
#define CDRMAABENCH_H
// The two allocator calls the benchmark needs: <malloc.h> is not part of Swift's Glibc module.
#include <stddef.h>

/// Bytes in live malloc allocations: mallinfo2()'s uordblks + hblkhd.
size_t drmaabench_heap_in_use(void);

/// malloc_trim(0): returns the allocator's free memory to the kernel.
void drmaabench_trim(void);

#endif
