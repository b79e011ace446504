/* file.c — small file helpers shared by the runtime and the compiler.
 *
 * rt_write_file_atomic gives readers either the old file or the new one,
 * never a half-written mix: a checkpoint interrupted by a crash, a full disk
 * or a kill must not destroy the previous good checkpoint.
 */
#include "netrt.h"
#include "dist.h"
#include "train_internal.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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

/* Whether name is base + ".tmp-" + six characters of mkstemp's alphabet. */
static bool is_temp_of(const char *name, const char *base)
{
    size_t n = strlen(base);
    if (strncmp(name, base, n) != 0 || strncmp(name + n, ".tmp-", 5) != 0 || strlen(name + n + 5) != 6)
        return false;
    for (const char *p = name + n + 5; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* A writer killed between mkstemp and rename (kill -9, power loss) leaves
 * its PATH.tmp-XXXXXX behind, as large as the file it was writing. The
 * next successful write of PATH removes them: they can only be such
 * leftovers, since two writers of one file at once would lose one's file
 * anyway. */
void rt_remove_stale_temps(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = !slash ? strdup(".") : slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    if (!dir)
        return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!is_temp_of(e->d_name, base))
                continue;
            struct stat st;
            if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
                (void)unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    free(dir);
}

int rt_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    /* rename(2) would replace a device node or a FIFO with a regular
     * file (as root, --save /dev/full did): write only over files. */
    if (rt_check_output(path, err, errlen) != 0)
        return -1;
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
    rt_remove_stale_temps(path);
    return 0;

fail:
    unlink(tmp);
    free(tmp);
    snprintf(err, errlen, "%s: %s", path, strerror(saved));
    return -1;
}

/* Opens path for reading, but only if it is a regular file: a device
 * (/dev/zero, /dev/urandom), a FIFO or a socket would make a reader block
 * forever or read without end. O_NONBLOCK keeps the open itself from
 * waiting for a FIFO's writer; it is cleared again once fstat has shown a
 * regular file, for which it means nothing anyway. */
int rt_open_regular(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: %s", path,
                 S_ISDIR(st.st_mode) ? "is a folder, not a file"
                                     : "is not a regular file (a device, FIFO or socket); give a file");
        close(fd);
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether a file may be written at path, asked before the work that
 * produces it: a folder, a device or a FIFO is refused (rename would
 * replace a device node with a regular file), and so is a folder that
 * does not exist. */
int rt_check_output(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (!*path) {
        snprintf(err, errlen, "an empty file name");
        return -1;
    }
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s: is a folder; give a file name", path);
            return -1;
        }
        if (!S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "%s: is not a regular file (a device, FIFO or socket); refusing to replace it",
                     path);
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    const char *slash = strrchr(path, '/');
    if (!slash)
        return 0;
    char *dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    if (!dir) {
        snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
        return -1;
    }
    int rc = 0;
    if (stat(dir, &st) != 0) {
        snprintf(err, errlen, "%s: the folder %s does not exist", path, dir);
        rc = -1;
    } else if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: %s is not a folder", path, dir);
        rc = -1;
    }
    free(dir);
    return rc;
}

/* The folder a path is in and its last component; the folder resolved
 * (realpath), so that two spellings of one name compare equal. */
static char *canonical_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = !slash ? strdup(".") : slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    if (!dir)
        return NULL;
    char *real = realpath(dir, NULL);
    free(dir);
    if (!real)
        return NULL;
    size_t n = strlen(real) + strlen(base) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", real, base);
    free(real);
    return out;
}

/* Whether two names denote one file: the same inode when both exist, else
 * the same resolved name (an output not written yet). */
bool rt_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    bool ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea && eb)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ea != eb)
        return false;
    char *ca = canonical_name(a), *cb = canonical_name(b);
    bool same = ca && cb && strcmp(ca, cb) == 0;
    free(ca);
    free(cb);
    return same;
}

/* Replaces the bytes of s that a terminal would act on (escape sequences,
 * carriage returns, other control characters) with '?', so that a file
 * name cannot rewrite the screen when a message prints it. Newlines and
 * tabs stay: messages use them. */
void rt_sanitize_text(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
            *p = '?';
}

void rt_path_error(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "%s: ", path);
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* One line on stderr, prefixed by the program's name like any Unix tool.
 * Here rather than in cli.c: dist.c reports with it, and the kernels reach
 * dist.c (dropout's rt_dist_element_offset), so from cli.c it pulled the
 * whole command line (data loaders, PNG, zlib) into every program that
 * links libnetrt.a for the kernels, such as an inference artefact. */
void rt_report(const char *prog, const char *fmt, ...)
{
    /* Messages quote file names the user gave: control characters in
     * them must not reach the terminal as escape sequences. */
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rt_sanitize_text(msg);
    if (rt_dist_on())
        fprintf(stderr, "%s: rank %d of %d: %s\n", prog, rt_dist_rank(), rt_dist_size(), msg);
    else
        fprintf(stderr, "%s: %s\n", prog, msg);
}
