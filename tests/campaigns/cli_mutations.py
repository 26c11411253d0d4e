#!/usr/bin/env python3
"""The CLI mutation campaign (issue 11's audit, kept): mutated inputs through every command
that reads a file, looking for what must never happen.

Seeds are the project's own fixtures (ELF objects with BTF, assembly, raw bytecode) plus
any files given with --seed. Each run mutates one seed (bit flips, byte sets to boundary
values, truncation, duplication and deletion of a range, splicing of two seeds) and passes
it to one of: show, disasm, run, btf dump, reloc (against the object's own BTF), asm. A run
is a finding when it panics (status 101), dies of a signal, exceeds the time limit, or
exits with a status outside the documented 0..3. Each command runs under an address-space
limit, so an allocation sized by the input is caught as an abort.

    tests/campaigns/cli_mutations.py --bpfbox target/release/bpfbox --runs 20000 --seed 1

Findings are written to --out (a directory, default `target/cli-mutations`) with the
command line to reproduce them; the summary counts runs per command and status.
"""

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOUNDARY = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x10, 0x20, 0x40]


def seeds(extra):
    files = []
    for sub in ("tests/fixtures/obj", "tests/fixtures/asm", "tests/fixtures/inputs"):
        d = ROOT / sub
        if d.is_dir():
            files += sorted(p for p in d.iterdir() if p.is_file())
    files += [Path(p) for p in extra]
    return [(p, p.read_bytes()) for p in files if p.stat().st_size > 0]


def mutate(rng, data, other):
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not b:
            b = bytearray(other[:64])
            continue
        op = rng.randrange(7)
        i = rng.randrange(len(b))
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i] = rng.choice(BOUNDARY)
        elif op == 2:
            # A 32-bit field set to a boundary value (sizes, offsets, counts).
            v = rng.choice([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, len(b), len(b) + 1])
            b[i:i + 4] = v.to_bytes(4, "little")
        elif op == 3:
            del b[rng.randrange(len(b)):]
        elif op == 4:
            j = min(len(b), i + rng.randint(1, 64))
            b[i:i] = b[i:j]
        elif op == 5:
            j = min(len(b), i + rng.randint(1, 64))
            del b[i:j]
        else:
            k = rng.randrange(len(other)) if other else 0
            b[i:i + 32] = other[k:k + 32]
    return bytes(b)


def commands(path, kind):
    p = str(path)
    cmds = [["show", p], ["disasm", p], ["run", p]]
    if kind == "elf":
        cmds += [["btf", "dump", p], ["reloc", p, "--btf", p]]
    else:
        cmds += [["asm", p]]
    return cmds


def limit(mem_mb):
    def set_limits():
        resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return set_limits


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bpfbox", default=str(ROOT / "target/release/bpfbox"))
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--mem-mb", type=int, default=4096)
    ap.add_argument("--out", default=str(ROOT / "target/cli-mutations"))
    ap.add_argument("--seed-file", action="append", default=[], dest="seed_files")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    pool = seeds(a.seed_files)
    if not pool:
        sys.exit("no seed files")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    statuses = Counter()
    per_command = Counter()
    findings = 0
    with tempfile.TemporaryDirectory(prefix="bpfbox-mut-") as tmp:
        for n in range(a.runs):
            src, data = rng.choice(pool)
            other = rng.choice(pool)[1]
            m = mutate(rng, data, other)
            kind = "elf" if data[:4] == b"\x7fELF" else "text"
            path = Path(tmp) / ("in" + src.suffix)
            path.write_bytes(m)
            cmd = rng.choice(commands(path, kind))
            name = " ".join(cmd[:2] if cmd[0] == "btf" else cmd[:1])
            per_command[name] += 1
            # A timeout is tried once more with four times the limit: on a loaded machine
            # a run can stall without bpfbox hanging.
            for attempt, limit_s in enumerate((a.timeout, 4 * a.timeout)):
                try:
                    r = subprocess.run([a.bpfbox] + cmd, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       timeout=limit_s, preexec_fn=limit(a.mem_mb))
                    code = r.returncode
                    status = f"exit {code}" if code >= 0 else f"signal {-code}"
                    if attempt:
                        status += " (after a stall)"
                    bad = code < 0 or code not in (0, 1, 2, 3)
                    err = r.stderr
                    break
                except subprocess.TimeoutExpired:
                    status, bad, err = "timeout", True, b""
            statuses[status] += 1
            if bad:
                findings += 1
                case = out / f"finding-{a.seed}-{n}{src.suffix}"
                case.write_bytes(m)
                (out / f"finding-{a.seed}-{n}.txt").write_text(
                    f"{status}\nbpfbox {' '.join(cmd[:-1] if cmd[0] != 'reloc' else cmd[:1])} {case}\n"
                    + err.decode(errors="replace")[-4000:])
    print(f"{a.runs} runs over {len(pool)} seeds (seed {a.seed}): {findings} findings")
    for k, v in sorted(per_command.items()):
        print(f"  {k:<10} {v}")
    for k, v in sorted(statuses.items()):
        print(f"  {k:<10} {v}")
    sys.exit(1 if findings else 0)


if __name__ == "__main__":
    main()
