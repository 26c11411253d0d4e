# prime_sieve: counts the primes below N with the sieve of Eratosthenes.
#
# Memory (r1): u64 N at offset 0, then N bytes of sieve at offset 8 that must be zero on
# entry (the program marks composites with 1). r0 = number of primes below N.
    ldxdw %r2, [%r1]
    mov %r0, 0
    mov %r3, 2
outer:
    jge %r3, %r2, done
    mov %r4, %r1
    add %r4, %r3
    ldxb %r5, [%r4+8]
    jne %r5, 0, next
    # i is prime: count it and mark i*i, i*i + i, ... below N.
    add %r0, 1
    mov %r6, %r3
    mul %r6, %r3
mark:
    jge %r6, %r2, next
    mov %r4, %r1
    add %r4, %r6
    stb [%r4+8], 1
    add %r6, %r3
    ja mark
next:
    add %r3, 1
    ja outer
done:
    exit
