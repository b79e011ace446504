/* file.c — small file helpers shared by the runtime and the compiler.
 *
 * rt_write_file_atomic gives readers either the old file or the new one,
 * never a half-written mix: a checkpoint interrupted by a crash, a full disk
 * or a kill must not destroy the previous good checkpoint.
 */
#include "netrt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The process umask without changing it: umask(2) can only be read by
 * setting it, which would race with other threads creating files, so ask
 * Linux's /proc instead. Falls back to the common 022. */
static mode_t current_umask(void)
{
    mode_t mask = 022;
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return mask;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned value;
        if (sscanf(line, "Umask: %o", &value) == 1) {
            mask = (mode_t)(value & 0777);
            break;
        }
    }
    fclose(f);
    return mask;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) { /* a regular file that accepts nothing is full */
            errno = ENOSPC;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The rename is durable only once the folder's entry is on disk too. A
 * failure here is not reported: the new file is already in place and
 * readable, and some file systems refuse fsync on folders. */
static void sync_parent_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return;
    (void)fsync(fd);
    close(fd);
}

int rt_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    /* The temporary file sits next to the target so that rename(2) stays
     * within one file system, where it is atomic. */
    size_t pathlen = strlen(path);
    static const char suffix[] = ".tmp-XXXXXX";
    char *tmp = malloc(pathlen + sizeof suffix);
    if (!tmp) {
        snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
        return -1;
    }
    memcpy(tmp, path, pathlen);
    memcpy(tmp + pathlen, suffix, sizeof suffix);

    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }

    /* mkstemp makes the file 0600; an overwrite keeps the target's mode,
     * a new file gets what open(2) with 0666 would have given it. */
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : (0666 & ~current_umask());

    int saved;
    if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        saved = errno;
        close(fd);
        goto fail;
    }
    if (close(fd) != 0) { /* NFS and others report write errors only here */
        saved = errno;
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        saved = errno;
        goto fail;
    }
    free(tmp);
    sync_parent_folder(path);
    return 0;

fail:
    unlink(tmp);
    free(tmp);
    snprintf(err, errlen, "%s: %s", path, strerror(saved));
    return -1;
}
