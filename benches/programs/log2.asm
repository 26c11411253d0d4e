# log2: floor(log2(v)) of many u64 values by binary search with shifts and branches
# (log2(0) is taken as 0).
#
# Memory (r1): u64 count M at offset 0, then M u64 values from offset 8.
# r0 = fold of the results: r0 = r0 * 67 + log2(v), in value order.
    ldxdw %r2, [%r1]
    mov %r0, 0
    mov %r3, %r1
    add %r3, 8
loop:
    jeq %r2, 0, done
    ldxdw %r4, [%r3]
    mov %r5, 0
    # Each step: if v >> k != 0 then v >>= k, result += k.
    mov %r6, %r4
    rsh %r6, 32
    jeq %r6, 0, s16
    mov %r4, %r6
    add %r5, 32
s16:
    mov %r6, %r4
    rsh %r6, 16
    jeq %r6, 0, s8
    mov %r4, %r6
    add %r5, 16
s8:
    mov %r6, %r4
    rsh %r6, 8
    jeq %r6, 0, s4
    mov %r4, %r6
    add %r5, 8
s4:
    mov %r6, %r4
    rsh %r6, 4
    jeq %r6, 0, s2
    mov %r4, %r6
    add %r5, 4
s2:
    mov %r6, %r4
    rsh %r6, 2
    jeq %r6, 0, s1
    mov %r4, %r6
    add %r5, 2
s1:
    jlt %r4, 2, fold
    add %r5, 1
fold:
    mul %r0, 67
    add %r0, %r5
    add %r3, 8
    sub %r2, 1
    ja loop
done:
    exit
