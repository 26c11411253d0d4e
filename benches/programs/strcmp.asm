# strcmp: compares pairs of NUL-terminated strings, R times over.
#
# Memory (r1): u64 R at offset 0, u64 P at offset 8, then a table of P pairs of u32 offsets
# (a, b) from offset 16; each offset points to a NUL-terminated string in the memory.
# For each comparison, d = a[i] - b[i] at the first differing byte (0 if equal), and
# r0 = r0 * 31 + (d + 256).
    ldxdw %r2, [%r1]
    mov %r0, 0
rep:
    jeq %r2, 0, done
    ldxdw %r3, [%r1+8]
    mov %r9, %r1
    add %r9, 16
pair:
    jeq %r3, 0, next_rep
    ldxw %r6, [%r9]
    add %r6, %r1
    ldxw %r7, [%r9+4]
    add %r7, %r1
cmp:
    ldxb %r4, [%r6]
    ldxb %r5, [%r7]
    jne %r4, %r5, differ
    jeq %r4, 0, differ
    add %r6, 1
    add %r7, 1
    ja cmp
differ:
    # d = r4 - r5 (0 when both strings ended together)
    sub %r4, %r5
    add %r4, 256
    mul %r0, 31
    add %r0, %r4
    add %r9, 8
    sub %r3, 1
    ja pair
next_rep:
    sub %r2, 1
    ja rep
done:
    exit
