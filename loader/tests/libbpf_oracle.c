/* Prints libbpf's open-time view of a BPF object, one line per program and map. */
#include <stdio.h>
#include <bpf/libbpf.h>

static int quiet(enum libbpf_print_level l, const char *f, va_list a) { return 0; }

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *p;
	struct bpf_map *m;

	libbpf_set_print(quiet);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		printf("error\n");
		return 1;
	}
	bpf_object__for_each_program(p, obj)
		printf("prog %s %s %d %d %zu %d\n", bpf_program__name(p), bpf_program__section_name(p),
		       bpf_program__type(p), bpf_program__expected_attach_type(p),
		       bpf_program__insn_cnt(p), bpf_program__autoload(p));
	bpf_object__for_each_map(m, obj)
		printf("map %s %d %u %u %u %#x\n", bpf_map__name(m), bpf_map__type(m),
		       bpf_map__key_size(m), bpf_map__value_size(m), bpf_map__max_entries(m),
		       bpf_map__map_flags(m));
	bpf_object__close(obj);
	return 0;
}
