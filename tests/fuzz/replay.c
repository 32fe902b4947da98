/*
 * Replays fuzz corpora as an ordinary test: each argument is a file or a directory of
 * files, each fed once to LLVMFuzzerTestOneInput. Built with the test flags (sanitizers on)
 * so a corpus entry that once crashed the parser keeps proving it no longer does. With
 * -Dfuzz=true the same targets are linked against libFuzzer instead of this file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	struct stat st;
	uint8_t *data;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	data = malloc((size_t) st.st_size + 1); /* checksrc: allow (test driver) */
	if (!data) {
		close(fd);
		return -1;
	}
	n = read(fd, data, (size_t) st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(data);
		return -1;
	}
	(void) LLVMFuzzerTestOneInput(data, (size_t) n);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			struct dirent **names;
			int n = scandir(argv[i], &names, NULL, alphasort);

			if (n < 0)
				return 1;
			for (int k = 0; k < n; k++) {
				char path[4096];

				if (names[k]->d_name[0] != '.') {
					snprintf(path, sizeof(path), "%s/%s", argv[i],
						 names[k]->d_name);
					if (run_file(path) < 0)
						return 1;
					files++;
				}
				free(names[k]);
			}
			free(names);
		} else {
			if (run_file(argv[i]) < 0)
				return 1;
			files++;
		}
	}
	printf("1..1\nok 1 - replayed %d corpus files\n", files);
	return files > 0 ? 0 : 1;
}
