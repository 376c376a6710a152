/* bench/alloc_count.c — an LD_PRELOAD shim that counts the heap allocations of the process it is
 * loaded into (bench/allocs.sh). Every malloc, calloc, realloc, posix_memalign, aligned_alloc,
 * memalign and valloc adds one to a counter and its size to another; the work is done by glibc's
 * own allocator (__libc_*). The two counters live in a file (ALLOC_COUNT_FILE, 16 bytes: two
 * little-endian uint64, allocations then bytes) mapped shared, so another process reads them
 * while this one runs; without the variable they stay in memory and nothing is written.
 * Atomic adds, relaxed: a few nanoseconds an allocation, so counts are exact and timings barely
 * disturbed. Build: cc -O2 -shared -fPIC -o alloc_count.so alloc_count.c */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);

static uint64_t fallback[2];
static uint64_t *counters = fallback;

__attribute__((constructor)) static void map_counters(void) {
    const char *path = getenv("ALLOC_COUNT_FILE");
    if (!path) return;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    if (ftruncate(fd, sizeof fallback) == 0) {
        void *p = mmap(NULL, sizeof fallback, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) counters = p;
    }
    close(fd);
}

static inline void count(size_t size) {
    __atomic_fetch_add(&counters[0], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&counters[1], size, __ATOMIC_RELAXED);
}

void *malloc(size_t size) { count(size); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(n * size); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(size); return __libc_realloc(p, size); }
void *memalign(size_t align, size_t size) { count(size); return __libc_memalign(align, size); }
void *aligned_alloc(size_t align, size_t size) { count(size); return __libc_memalign(align, size); }
void *valloc(size_t size) { count(size); return __libc_valloc(size); }
int posix_memalign(void **out, size_t align, size_t size) {
    count(size);
    void *p = __libc_memalign(align, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
