# memcpy: copies L bytes from one part of the memory to another, one byte at a time, then
# reads the copy back to checksum it.
#
# Memory (r1): u64 L at offset 0, then L source bytes at offset 16 and L bytes of
# destination at offset 16 + L. r0 = fold of the destination: r0 = r0 * 31 + byte.
    ldxdw %r2, [%r1]
    mov %r3, %r1
    add %r3, 16
    mov %r4, %r3
    add %r4, %r2
    # r3 = src, r4 = dst, r5 = end of src
    mov %r5, %r4
copy:
    jge %r3, %r5, check
    ldxb %r6, [%r3]
    stxb [%r4], %r6
    add %r3, 1
    add %r4, 1
    ja copy
check:
    mov %r0, 0
    # r5 = end of src = start of dst; r4 = end of dst
check_loop:
    jge %r5, %r4, done
    ldxb %r6, [%r5]
    mul %r0, 31
    add %r0, %r6
    add %r5, 1
    ja check_loop
done:
    exit
