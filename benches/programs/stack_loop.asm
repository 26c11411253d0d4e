# stack_loop: stores and loads stack slots of every size in a loop.
#
# Memory (r1): u64 N at offset 0.
# Stack: 32 u64 counters at r10-256 .. r10-8, a u32 at r10-264, a u16 at r10-266 and a
# u8 at r10-267.
# For i in 0..N: counter[i % 32] += i; the narrow slots get i*3, i and i^0x5a and are read
# back into the accumulator. At the end every counter is added to the accumulator (r0).
    ldxdw %r2, [%r1]
    mov %r0, 0
    # Zero the counters so the result does not depend on the stack's initial contents.
    mov %r3, %r10
    sub %r3, 256
clear:
    stdw [%r3], 0
    add %r3, 8
    jne %r3, %r10, clear
    mov %r3, 0
loop:
    jge %r3, %r2, sum
    # p = r10 - 256 + (i & 31) * 8
    mov %r4, %r3
    and %r4, 31
    lsh %r4, 3
    add %r4, %r10
    ldxdw %r5, [%r4-256]
    add %r5, %r3
    stxdw [%r4-256], %r5
    mov %r6, %r3
    mul %r6, 3
    stxw [%r10-264], %r6
    stxh [%r10-266], %r3
    mov %r7, %r3
    xor %r7, 0x5a
    stxb [%r10-267], %r7
    ldxw %r6, [%r10-264]
    add %r0, %r6
    ldxh %r6, [%r10-266]
    add %r0, %r6
    ldxb %r6, [%r10-267]
    add %r0, %r6
    add %r3, 1
    ja loop
sum:
    mov %r3, %r10
    sub %r3, 256
sum_loop:
    ldxdw %r5, [%r3]
    add %r0, %r5
    add %r3, 8
    jne %r3, %r10, sum_loop
    exit
