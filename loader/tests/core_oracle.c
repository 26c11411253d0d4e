/* libbpf as the CO-RE oracle: opens OBJ with TARGET as btf_custom_path (empty or absent: the
 * host's vmlinux), loads it, and prints libbpf's debug log, which records every CO-RE decision
 * before the kernel sees the programs. Usage: core_oracle OBJ [TARGET] */
#include <stdarg.h>
#include <stdio.h>
#include <bpf/libbpf.h>

static int print_all(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return vfprintf(stdout, fmt, args);
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	int err;

	if (argc < 2)
		return 2;
	libbpf_set_print(print_all);
	LIBBPF_OPTS(bpf_object_open_opts, opts,
		    .btf_custom_path = argc > 2 && argv[2][0] ? argv[2] : NULL);
	obj = bpf_object__open_file(argv[1], &opts);
	if (!obj) {
		printf("ORACLE: open failed\n");
		return 1;
	}
	err = bpf_object__load(obj);
	printf("ORACLE: load %d\n", err);
	bpf_object__close(obj);
	return 0;
}
