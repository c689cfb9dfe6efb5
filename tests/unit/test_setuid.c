// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * IBV_EXT_SYSFS_ROOT is ignored by a setuid program: a copy of this test,
 * owned by nobody and setuid, is run with the variable pointing at a
 * fixture tree and must read /sys; the same copy without the setuid bit
 * must read the fixture. Needs root (to chown); skips with the reason
 * otherwise.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define NOBODY 65534

/*
 * Sanitizer builds: a setuid process ignores ASAN_OPTIONS, and
 * LeakSanitizer cannot run in it; the runtime asks this function.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

/* Child: say which tree the library reads (its ENODEV reason names it). */
static int child(void)
{
	struct ibv_dma_endpoint eps[1];
	size_t n = 1;
	int ret = ibv_query_dma_endpoints("nosuchdev", eps, &n);

	printf("%d %s\n", ret, ibv_ext_last_error());
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			n = -1;
	close(in);
	close(out);
	return n < 0 ? -1 : 0;
}

/* Run exe child with the fixture root; its one line of output in line. */
static int run_child(const char *exe, const char *root, char *line, size_t len)
{
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		setenv(IBV_EXT_SYSFS_ROOT_ENV, root, 1);
		execl(exe, exe, "child", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	n = read(pfd[0], line, len - 1);
	close(pfd[0]);
	waitpid(pid, &status, 0);
	line[n > 0 ? n : 0] = '\0';
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char root[4096];

static void setuid_ignores_root(void)
{
	char dir[] = "/tmp/dmp-setuid-XXXXXX", exe[64], line[1024];

	CHECK(mkdtemp(dir) != NULL);
	chmod(dir, 0755);
	snprintf(exe, sizeof(exe), "%s/test_setuid", dir);
	CHECK(copy_file("/proc/self/exe", exe) == 0);
	CHECK(chown(exe, NOBODY, NOBODY) == 0);

	/* Control: the copy as it is reads the tree the variable names. */
	CHECK(chmod(exe, 0755) == 0);
	CHECK_INT(run_child(exe, root, line, sizeof(line)), 0);
	CHECK_HAS(line, root);

	CHECK(chmod(exe, 04755) == 0);
	CHECK_INT(run_child(exe, root, line, sizeof(line)), 0);
	CHECK_HAS(line, "/sys/class/infiniband");
	CHECK(!strstr(line, root));

	unlink(exe);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	const char *fx = getenv("DMP_FIXTURES");

	if (argc > 1 && !strcmp(argv[1], "child"))
		return child();
	if (!fx) {
		SKIP(setuid_ignores_root, "DMP_FIXTURES is not set (run through ctest)");
		return test_report();
	}
	if (geteuid() != 0) {
		SKIP(setuid_ignores_root, "needs root to make a setuid copy owned by nobody");
		return 77;
	}
	snprintf(root, sizeof(root), "%s/lab-vm", fx);
	RUN(setuid_ignores_root);
	return test_report();
}
