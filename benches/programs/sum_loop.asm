# sum_loop: r0 = 1 + 2 + ... + N, in a register-only loop.
#
# Memory (r1): u64 N at offset 0. r2 is not used: rbpf's raw VM only sets r1.
    ldxdw %r2, [%r1]
    mov %r0, 0
    mov %r3, 1
loop:
    jgt %r3, %r2, done
    add %r0, %r3
    add %r3, 1
    ja loop
done:
    exit
