# switch: a byte-code dispatch loop, `switch (op)` written as a chain of jeq comparisons.
#
# Memory (r1): u64 count M at offset 0, then M opcode bytes from offset 8. Opcodes 0..15
# each update the accumulator r0 differently (r3 is the index of the opcode); any other
# value takes the default case (r0 += 2).
    ldxdw %r2, [%r1]
    mov %r0, 0
    mov %r3, 0
loop:
    jge %r3, %r2, done
    mov %r5, %r1
    add %r5, %r3
    ldxb %r4, [%r5+8]
    jeq %r4, 0, case0
    jeq %r4, 1, case1
    jeq %r4, 2, case2
    jeq %r4, 3, case3
    jeq %r4, 4, case4
    jeq %r4, 5, case5
    jeq %r4, 6, case6
    jeq %r4, 7, case7
    jeq %r4, 8, case8
    jeq %r4, 9, case9
    jeq %r4, 10, case10
    jeq %r4, 11, case11
    jeq %r4, 12, case12
    jeq %r4, 13, case13
    jeq %r4, 14, case14
    jeq %r4, 15, case15
    # default
    add %r0, 2
    ja next
case0:
    add %r0, 1
    ja next
case1:
    xor %r0, 0x55
    ja next
case2:
    mul %r0, 3
    ja next
case3:
    add %r0, %r3
    ja next
case4:
    sub %r0, 7
    ja next
case5:
    lsh %r0, 1
    ja next
case6:
    rsh %r0, 1
    ja next
case7:
    or %r0, 0x100
    ja next
case8:
    and %r0, 0xffffff
    ja next
case9:
    add %r0, 1000
    ja next
case10:
    add32 %r0, 12345
    ja next
case11:
    xor %r0, %r3
    ja next
case12:
    mul %r0, 5
    add %r0, 1
    ja next
case13:
    sub %r0, %r3
    ja next
case14:
    xor %r0, -1
    ja next
case15:
    add %r0, 0x7fffffff
next:
    add %r3, 1
    ja loop
done:
    exit
