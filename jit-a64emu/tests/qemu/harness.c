/* End-to-end harness for aarch64 JIT images under qemu-aarch64: maps the code read-write,
 * copies it in, makes it read-execute, flushes the instruction cache and calls its entry
 * stub with a run context laid out as the offsets given on the command line say.
 *
 * usage: harness CODE MEM CTX_BYTES LEFT R10 STACK_START R1_START R1_LIM ARGS STATUS
 *                BUDGET STACK_BYTES
 * prints: r0=<hex> status=<n> left=<n> mem=<hex bytes>
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n ? (size_t)n : 1);
    if (n && fread(b, 1, (size_t)n, f) != (size_t)n) { perror(path); exit(2); }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void put(unsigned char *ctx, unsigned long off, uint64_t v) {
    memcpy(ctx + off, &v, 8);
}

static uint64_t get(unsigned char *ctx, unsigned long off) {
    uint64_t v;
    memcpy(&v, ctx + off, 8);
    return v;
}

int main(int argc, char **argv) {
    if (argc != 13) { fprintf(stderr, "usage: see the source\n"); return 2; }
    size_t code_len, mem_len;
    unsigned char *code = slurp(argv[1], &code_len);
    unsigned char *mem = slurp(argv[2], &mem_len);
    unsigned long a[10];
    for (int i = 0; i < 10; i++) a[i] = strtoul(argv[3 + i], NULL, 0);
    unsigned long ctx_bytes = a[0], o_left = a[1], o_r10 = a[2], o_stack = a[3],
                  o_r1_start = a[4], o_r1_lim = a[5], o_args = a[6], o_status = a[7];
    uint64_t budget = a[8];
    unsigned long stack_bytes = a[9];

    size_t map_len = (code_len + 4095) & ~(size_t)4095;
    void *x = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (x == MAP_FAILED) { perror("mmap"); return 2; }
    memcpy(x, code, code_len);
    if (mprotect(x, map_len, PROT_READ | PROT_EXEC)) { perror("mprotect"); return 2; }
    __builtin___clear_cache((char *)x, (char *)x + code_len);

    unsigned char *ctx = calloc(1, ctx_bytes);
    unsigned char *stack = aligned_alloc(16, stack_bytes);
    memset(stack, 0, stack_bytes);
    put(ctx, o_left, budget);
    put(ctx, o_r10, (uint64_t)(uintptr_t)(stack + stack_bytes));
    put(ctx, o_stack, (uint64_t)(uintptr_t)stack);
    put(ctx, o_r1_start, mem_len ? (uint64_t)(uintptr_t)mem : (uint64_t)(uintptr_t)stack);
    static const uint64_t sizes[4] = {1, 2, 4, 8};
    for (int i = 0; i < 4; i++) {
        uint64_t lim = mem_len >= sizes[i] ? mem_len - sizes[i] + 1 : 0;
        put(ctx, o_r1_lim + 8 * i, lim);
        put(ctx, o_r1_lim + 8 * (4 + i), lim);
    }
    put(ctx, o_args, mem_len ? (uint64_t)(uintptr_t)mem : 0);
    put(ctx, o_args + 8, mem_len);

    uint64_t (*entry)(void *) = (uint64_t (*)(void *))x;
    uint64_t r0 = entry(ctx);
    printf("r0=%llx status=%llu left=%llu mem=", (unsigned long long)r0,
           (unsigned long long)get(ctx, o_status), (unsigned long long)get(ctx, o_left));
    for (size_t i = 0; i < mem_len; i++) printf("%02x", mem[i]);
    printf("\n");
    return 0;
}
