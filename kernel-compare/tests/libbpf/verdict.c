/* The libbpf oracle of tests/libbpf_parity.rs: libbpf's verdict on one program at a time.
 *
 * Reads lines `OBJECT<TAB>PROGRAM<TAB>EXTRA,EXTRA...` (the extras are other programs of the
 * object to load alongside, may be empty) and prints `OBJECT<TAB>PROGRAM<TAB>VERDICT<TAB>ERR`
 * per line: VERDICT is `success` or `failure` (ERR the negative error bpf_object__load
 * returned) or `open-failed` (libbpf cannot open the object, ERR its errno), `no-type` (this
 * libbpf does not know the program's section name) or `no-program`.
 * Built and run by the test against Debian's libbpf-dev: gcc verdict.c -lbpf. */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	(void)fmt;
	(void)args;
	return 0;
}

/* Whether `name` is `prog` or one of the comma-separated `extras`. */
static int wanted(const char *name, const char *prog, const char *extras)
{
	size_t n = strlen(name);
	const char *p = extras;

	if (strcmp(name, prog) == 0)
		return 1;
	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0)
			return 1;
		p = end ? end + 1 : NULL;
	}
	return 0;
}

int main(void)
{
	static char line[1 << 16];

	libbpf_set_print(quiet);
	while (fgets(line, sizeof(line), stdin)) {
		char *obj_path = strtok(line, "\t\n");
		char *prog = strtok(NULL, "\t\n");
		char *extras = strtok(NULL, "\t\n");
		struct bpf_object *obj;
		struct bpf_program *p;
		int found = 0, err;

		if (!obj_path || !prog)
			continue;
		obj = bpf_object__open(obj_path);
		err = libbpf_get_error(obj);
		if (err) {
			printf("%s\t%s\topen-failed\t%d\n", obj_path, prog, err);
			fflush(stdout);
			continue;
		}
		bpf_object__for_each_program(p, obj) {
			int on = wanted(bpf_program__name(p), prog, extras);

			found |= strcmp(bpf_program__name(p), prog) == 0;
			bpf_program__set_autoload(p, on);
		}
		p = bpf_object__find_program_by_name(obj, prog);
		if (!found || !p) {
			printf("%s\t%s\tno-program\t0\n", obj_path, prog);
		} else if (bpf_program__type(p) == BPF_PROG_TYPE_UNSPEC) {
			printf("%s\t%s\tno-type\t0\n", obj_path, prog);
		} else {
			err = bpf_object__load(obj);
			printf("%s\t%s\t%s\t%d\n", obj_path, prog, err ? "failure" : "success", err);
		}
		fflush(stdout);
		bpf_object__close(obj);
	}
	return 0;
}
