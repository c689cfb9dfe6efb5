// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Concurrent callers: many threads make the first call of the process at
 * once (topology parse) and then ask for P2P choices whose providers are
 * parsed lazily under the topology lock. Every thread must see exactly the
 * answers a single thread sees afterwards. Then readers of the parser's
 * notes race writers that add notes (lazily parsed functions with no
 * numa_node). Run under ThreadSanitizer by tests/reliability/run-host.
 */
#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

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
		if (!vext_read_hex(root, &cls, "%s", rel) && (cls >> 8) == 0x0302)
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

/*
 * A tree of one host bridge with NOTE_FNS functions that have no numa_node
 * file: describing each as a P2P provider parses it and adds a note.
 */
#define NOTE_FNS 48
static char note_root[] = "/tmp/dmp-notes-XXXXXX";

static int put(const char *rel, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", note_root, rel);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int mkdirs(const char *rel)
{
	char path[4096], *p;

	snprintf(path, sizeof(path), "%s/%s", note_root, rel);
	for (p = path + strlen(note_root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	return mkdir(path, 0755) && errno != EEXIST ? -1 : 0;
}

static int make_note_tree(void)
{
	char rel[256], link[4096], target[256];
	int i;

	if (!mkdtemp(note_root) || mkdirs("devices/system/node") ||
	    put("devices/system/node/online", "0\n") ||
	    mkdirs("bus/pci/devices"))
		return -1;
	for (i = 0; i < NOTE_FNS; i++) {
		snprintf(rel, sizeof(rel), "devices/pci0000:00/0000:00:%02x.%d",
			 i / 8, i % 8);
		if (mkdirs(rel))
			return -1;
		snprintf(link, sizeof(link), "%s/bus/pci/devices/0000:00:%02x.%d",
			 note_root, i / 8, i % 8);
		snprintf(target, sizeof(target), "../../../%s", rel);
		if (symlink(target, link))
			return -1;
	}
	return 0;
}

static void remove_note_tree(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", note_root);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", note_root);
}

static pthread_barrier_t notes_start;
static int notes_bad[THREADS];

static void *note_writer(void *arg)
{
	int me = (int)(intptr_t)arg, i;

	pthread_barrier_wait(&notes_start);
	for (i = me / 2; i < NOTE_FNS; i += THREADS / 2) {
		struct ibv_dmabuf_info src = { 0 };
		char spec[32];

		snprintf(spec, sizeof(spec), "p2p:0000:00:%02x.%d", i / 8, i % 8);
		if (ibv_describe_dmabuf_source(spec, &src) || src.numa_node != -1)
			notes_bad[me]++;
	}
	return NULL;
}

static void *note_reader(void *arg)
{
	int me = (int)(intptr_t)arg, round;

	pthread_barrier_wait(&notes_start);
	for (round = 0; round < 200; round++) {
		const char *note;
		size_t i;

		for (i = 0; (note = ibv_ext_sysfs_note(i)); i++)
			if (!strstr(note, "numa_node"))
				notes_bad[me]++;
	}
	return NULL;
}

static void notes_while_parsing(void)
{
	pthread_t th[THREADS];
	const char *note;
	size_t n;
	int i;

	CHECK_INT(make_note_tree(), 0);
	setenv(IBV_EXT_SYSFS_ROOT_ENV, note_root, 1);
	pthread_barrier_init(&notes_start, NULL, THREADS);
	for (i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, i % 2 ? note_reader : note_writer,
			       (void *)(intptr_t)i);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&notes_start);
	for (i = 0; i < THREADS; i++)
		CHECK_INT(notes_bad[i], 0);
	for (n = 0; (note = ibv_ext_sysfs_note(n)); n++)
		;
	CHECK_INT(n, NOTE_FNS);
	remove_note_tree();
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
	RUN(notes_while_parsing);
	return test_report();
}
