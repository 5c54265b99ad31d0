/*-------------------------------------------------------------------------
 *
 * replay_main.c
 *		main() of the replay binary: runs files through the fuzzing entry
 *		point without libFuzzer and reports each as a TAP line.
 *
 * Usage: fuzz_replay [--in-process] FILE|DIR...  (a directory stands for
 * its files, in name order, hidden ones and README files aside).  Each file
 * runs in a child process, so that a crash or a leak report fails that file
 * alone; --in-process runs them all in this one (for a coverage build,
 * which writes its profile at exit).  The input is read into a buffer of
 * exactly its size, without a NUL, as libFuzzer passes it.  Exits 1 when
 * any file failed.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The files to replay, in order. */
static char **files = NULL;
static int	nfiles = 0;

static void *
xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (p == NULL)
	{
		perror("fuzz_replay");
		exit(2);
	}
	return p;
}

static void
add_file(const char *path)
{
	files = xrealloc(files, (nfiles + 1) * sizeof(char *));
	files[nfiles] = strdup(path);
	if (files[nfiles] == NULL)
		exit(2);
	nfiles++;
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Adds the files of a directory, sorted by name. */
static void
add_directory(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	int			first = nfiles;

	if (d == NULL)
	{
		fprintf(stderr, "fuzz_replay: could not open \"%s\": %s\n", dir, strerror(errno));
		exit(2);
	}
	while ((e = readdir(d)) != NULL)
	{
		char		path[4096];
		struct stat st;

		if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			add_file(path);
	}
	closedir(d);
	qsort(files + first, nfiles - first, sizeof(char *), compare_names);
}

/* Runs one file through the entry point; in the child, exits 0 when done. */
static void
replay_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *data = NULL;
	size_t		size = 0;
	size_t		got;
	uint8_t		chunk[65536];

	if (f == NULL)
	{
		fprintf(stderr, "fuzz_replay: could not open \"%s\": %s\n", path, strerror(errno));
		exit(2);
	}
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
	{
		data = xrealloc(data, size + got);
		memcpy(data + size, chunk, got);
		size += got;
	}
	fclose(f);
	if (data == NULL)
		data = xrealloc(NULL, 1);
	LLVMFuzzerTestOneInput(data, size);
	free(data);
}

int
main(int argc, char **argv)
{
	int			failures = 0;
	int			first = 1;
	int			in_process = 0;

	if (argc > 1 && strcmp(argv[1], "--in-process") == 0)
	{
		in_process = 1;
		first = 2;
	}
	for (int i = first; i < argc; i++)
	{
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			add_directory(argv[i]);
		else
			add_file(argv[i]);
	}
	printf("1..%d\n", nfiles);
	for (int i = 0; i < nfiles; i++)
	{
		pid_t		pid;
		int			status;

		if (in_process)
		{
			replay_file(files[i]);
			printf("ok %d - %s\n", i + 1, files[i]);
			continue;
		}
		fflush(stdout);
		pid = fork();
		if (pid < 0)
		{
			perror("fuzz_replay: fork");
			return 2;
		}
		if (pid == 0)
		{
			replay_file(files[i]);
			exit(0);
		}
		if (waitpid(pid, &status, 0) < 0)
		{
			perror("fuzz_replay: waitpid");
			return 2;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			printf("ok %d - %s\n", i + 1, files[i]);
		else
		{
			failures++;
			if (WIFSIGNALED(status))
				printf("not ok %d - %s (signal %d)\n", i + 1, files[i], WTERMSIG(status));
			else
				printf("not ok %d - %s (exit status %d)\n", i + 1, files[i], WEXITSTATUS(status));
		}
	}
	return failures > 0 ? 1 : 0;
}
