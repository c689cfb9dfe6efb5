// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Concurrent callers: many threads make the first call of the process at
 * once (topology parse) and then ask for P2P choices whose providers are
 * parsed lazily under the topology lock. Every thread must see exactly the
 * answers a single thread sees afterwards.
 */
#include <dirent.h>
#include <pthread.h>

#include "ext_internal.h"
#include "test.h"

#define THREADS 8
#define ROUNDS 50
#define MAX_GPUS 16

static char gpus[MAX_GPUS][IBV_EXT_PCI_ADDR_LEN];
static int nr_gpus;
static pthread_barrier_t start;

struct result {
	char dev[MAX_GPUS][IBV_EXT_NAME_LEN];
	uint32_t ep[MAX_GPUS];
	int err;
};

static struct result results[THREADS];

static void find_gpus(const char *root)
{
	char path[4096];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/bus/pci/devices", root);
	d = opendir(path);
	while (d && (de = readdir(d)) && nr_gpus < MAX_GPUS) {
		unsigned long cls;
		char rel[512];

		if (!vext_is_pci_addr(de->d_name))
			continue;
		snprintf(rel, sizeof(rel), "bus/pci/devices/%s/class",
			 de->d_name);
		if (!vext_read_hex(root, rel, &cls) && (cls >> 8) == 0x0302)
			snprintf(gpus[nr_gpus++], IBV_EXT_PCI_ADDR_LEN, "%s",
				 de->d_name);
	}
	if (d)
		closedir(d);
}

static int answer(struct result *r)
{
	int g, ret;

	for (g = 0; g < nr_gpus; g++) {
		struct ibv_dmabuf_info src = { 0 };
		struct ibv_dma_choice c[32];
		size_t n = 32;
		char spec[32];

		snprintf(spec, sizeof(spec), "p2p:%s", gpus[g]);
		ret = ibv_describe_dmabuf_source(spec, &src);
		if (ret)
			return ret;
		ret = ibv_rank_dmabuf_devices(NULL, 0, &src, NULL, c, &n);
		if (ret)
			return ret;
		snprintf(r->dev[g], IBV_EXT_NAME_LEN, "%s", c[0].ep.ibdev);
		r->ep[g] = c[0].ep.index;
	}
	return 0;
}

static void *worker(void *arg)
{
	struct result *r = arg;
	int i;

	pthread_barrier_wait(&start);
	for (i = 0; i < ROUNDS && !r->err; i++)
		r->err = answer(r);
	return NULL;
}

static void concurrent_first_use(void)
{
	pthread_t th[THREADS];
	struct result ref;
	int i, g;

	pthread_barrier_init(&start, NULL, THREADS);
	for (i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, &results[i]);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);

	memset(&ref, 0, sizeof(ref));
	CHECK_INT(answer(&ref), 0);
	for (i = 0; i < THREADS; i++) {
		CHECK_INT(results[i].err, 0);
		for (g = 0; g < nr_gpus; g++) {
			CHECK_STR(results[i].dev[g], ref.dev[g]);
			CHECK_INT(results[i].ep[g], ref.ep[g]);
		}
	}
}

int main(void)
{
	const char *fx = getenv("DMP_FIXTURES");
	char root[4096];

	if (!fx) {
		SKIP(concurrent_first_use,
		     "DMP_FIXTURES is not set (run through ctest)");
		return test_report();
	}
	snprintf(root, sizeof(root), "%s/dgx-h100", fx);
	setenv(IBV_EXT_SYSFS_ROOT_ENV, root, 1);
	find_gpus(root);
	CHECK(nr_gpus >= 8);
	RUN(concurrent_first_use);
	return test_report();
}
