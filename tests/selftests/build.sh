#!/bin/sh
# Build the kernel's verifier selftest programs (tools/testing/selftests/bpf/progs/verifier_*.c)
# from the Debian linux-source tarball into OUT_DIR/*.o, with the flags the selftests Makefile
# uses. Nothing built here is committed: the sources are GPL and stay in OUT_DIR.
#
# usage: tests/selftests/build.sh OUT_DIR
#
# Environment:
#   LINUX_SOURCE_TARBALL  the tarball (default /usr/src/linux-source-6.12.tar.xz)
#   CLANG                 the compiler (default clang-19, else clang)
#   BPFTOOL               bpftool (default bpftool)
#   VMLINUX_BTF           BTF to dump vmlinux.h from (default /sys/kernel/btf/vmlinux)
#   JOBS                  parallel compilations (default: number of CPUs)
#
# Idempotent: the sources are extracted once; an object is rebuilt only when older than its
# source, the generated headers, or this script.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 2
fi

script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
mkdir -p "$1"
out=$(cd "$1" && pwd)
tarball=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
if [ -z "${CLANG:-}" ]; then
    if command -v clang-19 >/dev/null 2>&1; then CLANG=clang-19; else CLANG=clang; fi
fi
bpftool=${BPFTOOL:-bpftool}
vmlinux_btf=${VMLINUX_BTF:-/sys/kernel/btf/vmlinux}
jobs=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}

for tool in "$CLANG" "$bpftool" python3 tar xz; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$0: $tool not found" >&2; exit 1; }
done
[ -r "$tarball" ] || { echo "$0: $tarball not readable" >&2; exit 1; }

# One build at a time per OUT_DIR (tests and tools may run this concurrently).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$out/.lock"
    flock 9
fi

# The tarball's top directory (linux-source-6.12/).
src="$out/src"
stamp="$src/.extracted"
if [ ! -f "$stamp" ] || [ "$tarball" -nt "$stamp" ]; then
    rm -rf "$src"
    mkdir -p "$src"
    top=$(tar -tJf "$tarball" | head -n 1 | cut -d/ -f1)
    echo "extracting the selftest sources from $tarball" >&2
    tar -xJf "$tarball" -C "$src" --wildcards \
        "$top/tools/testing/selftests/bpf/*.h" \
        "$top/tools/testing/selftests/bpf/progs/*" \
        "$top/tools/include/*" \
        "$top/tools/lib/bpf/*.h" \
        "$top/scripts/bpf_doc.py"
    echo "$top" >"$stamp"
fi
top=$(cat "$stamp")
tree="$src/$top"
selftests="$tree/tools/testing/selftests/bpf"

# bpf_helper_defs.h, as tools/lib/bpf/Makefile generates it.
helper_defs="$tree/tools/lib/bpf/bpf_helper_defs.h"
uapi_bpf="$tree/tools/include/uapi/linux/bpf.h"
if [ ! -s "$helper_defs" ] || [ "$uapi_bpf" -nt "$helper_defs" ]; then
    python3 "$tree/scripts/bpf_doc.py" --header --file "$uapi_bpf" >"$helper_defs.tmp"
    mv "$helper_defs.tmp" "$helper_defs"
fi

# vmlinux.h from the host's BTF, regenerated only when its content changes.
incdir="$out/include"
mkdir -p "$incdir"
"$bpftool" btf dump file "$vmlinux_btf" format c >"$incdir/vmlinux.h.tmp"
if cmp -s "$incdir/vmlinux.h.tmp" "$incdir/vmlinux.h"; then
    rm -f "$incdir/vmlinux.h.tmp"
else
    mv "$incdir/vmlinux.h.tmp" "$incdir/vmlinux.h"
fi

# clang's own system include directories, appended with -idirafter as the selftests Makefile
# does (CLANG_SYS_INCLUDES) so that asm/ and sys/ headers of the host resolve.
sys_includes=$("$CLANG" -v -E - </dev/null 2>&1 |
    sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }' |
    tr '\n' ' ')

cat >"$out/.flags" <<EOF
-g -O2 --target=bpfel -mcpu=v3 -Wall -Wno-compare-distinct-pointer-types -D__TARGET_ARCH_x86 -DENABLE_ATOMICS_TESTS -I$incdir -I$selftests -I$tree/tools/include -I$tree/tools/include/uapi -I$tree/tools/lib $sys_includes
EOF

# One compilation per stale object, JOBS at a time. The BTF files tests name with
# __btf_path keep the selftests' name (NAME.bpf.o) beside the tests.
export CLANG out selftests helper_defs script
ls "$selftests"/progs/verifier_*.c "$selftests"/progs/btf__core_reloc_bitfields.c |
    xargs -P "$jobs" -n 1 sh -c '
    c=$1
    name=$(basename "$c" .c)
    case "$name" in btf__*) o="$out/$name.bpf.o" ;; *) o="$out/$name.o" ;; esac
    if [ -f "$o" ] && [ ! "$c" -nt "$o" ] && [ ! "$out/include/vmlinux.h" -nt "$o" ] &&
        [ ! "$helper_defs" -nt "$o" ] && [ ! "$script" -nt "$o" ]; then
        exit 0
    fi
    extra=
    # Per-file flags of the selftests Makefile.
    case "$name" in verifier_nocsr) extra=-fno-strict-aliasing ;; esac
    # shellcheck disable=SC2046
    if ! "$CLANG" $(cat "$out/.flags") $extra -c "$c" -o "$o.tmp" 2>"$out/$name.log"; then
        echo "FAILED: $name (see $out/$name.log)" >&2
        rm -f "$o.tmp"
        exit 255
    fi
    mv "$o.tmp" "$o"
    [ -s "$out/$name.log" ] || rm -f "$out/$name.log"
' sh

count=$(ls "$out"/verifier_*.o | wc -l)
echo "$count verifier selftest objects in $out" >&2
