// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * A user who is not root cannot read VPD (the kernel makes it 0600): the
 * library cannot pair mlx5 data-direct functions from sysfs then, and
 * must say so rather than drop those endpoints silently. A copy of the
 * data-direct fixture with its vpd files 0600 is read by this test as
 * nobody (and, as control, as root). Needs root; skips with the reason
 * otherwise.
 */
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define NOBODY 65534

static char tree[] = "/tmp/dmp-nonroot-XXXXXX";

/* 0: paired (no note, 2 endpoints); 1: note and 1 endpoint; 2: else. */
static int look(void)
{
	struct ibv_dma_endpoint eps[4];
	const char *note;
	bool noted = false;
	size_t i, n = 4;

	for (i = 0; (note = ibv_ext_sysfs_note(i)); i++)
		if (strstr(note, "mlx5_0: data-direct functions (0008:04:00.0) cannot be paired") &&
		    strstr(note, "readable by root only") &&
		    strstr(note, "mlx5dv_get_data_direct_sysfs_path"))
			noted = true;
	if (ibv_query_dma_endpoints("mlx5_0", eps, &n))
		return 2;
	if (!noted && n == 2 && eps[1].kind == IBV_DMA_EP_DATA_DIRECT)
		return 0;
	if (noted && n == 1)
		return 1;
	return 2;
}

static int run_as(uid_t uid)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (uid && (setgid(uid) || setuid(uid)))
			_exit(3);
		setenv(IBV_EXT_SYSFS_ROOT_ENV, tree, 1);
		_exit(look());
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void unreadable_vpd(void)
{
	CHECK_INT(run_as(0), 0);
	CHECK_INT(run_as(NOBODY), 1);
}

int main(void)
{
	const char *fx = getenv("DMP_FIXTURES");
	char cmd[8192];

	if (!fx) {
		SKIP(unreadable_vpd, "DMP_FIXTURES is not set (run through ctest)");
		return test_report();
	}
	if (geteuid() != 0) {
		SKIP(unreadable_vpd, "needs root to read a tree as another user");
		return 77;
	}
	if (!mkdtemp(tree))
		return 1;
	snprintf(cmd, sizeof(cmd),
		 "cp -a '%s/data-direct/.' '%s' && chmod 0755 '%s' && "
		 "find '%s' -name vpd -exec chmod 0600 {} +",
		 fx, tree, tree, tree);
	CHECK_INT(system(cmd), 0);
	RUN(unreadable_vpd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tree);
	CHECK_INT(system(cmd), 0);
	return test_report();
}
