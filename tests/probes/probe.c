/* /bin/probe of the `burrow run` and lifecycle tests (tests/tests/run*.rs, lifecycle.rs): makes
 * syscalls, lists its descriptors, opens files and connects to sockets, and prints the errno.
 * Built statically once per test process by the harness (burrow_tests::probe_binary). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

/* name, native number, i386 number (-1: none) */
static const struct { const char *name; long nr; long nr32; } SYS[] = {
    {"keyctl", SYS_keyctl, 288},
    {"bpf", SYS_bpf, 357},
    {"perf_event_open", SYS_perf_event_open, 336},
    {"io_uring_setup", SYS_io_uring_setup, 425},
    {"kexec_load", SYS_kexec_load, 283},
    {"init_module", SYS_init_module, 128},
    {"open_by_handle_at", SYS_open_by_handle_at, 342},
    {"userfaultfd", SYS_userfaultfd, 374},
    {"getpid", SYS_getpid, 20},
    {"getppid", SYS_getppid, 64},
};

static int find(const char *name) {
    for (size_t i = 0; i < sizeof SYS / sizeof SYS[0]; i++)
        if (strcmp(SYS[i].name, name) == 0) return (int)i;
    fprintf(stderr, "probe: unknown syscall %s\n", name);
    exit(2);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 3 && strcmp(argv[1], "sys") == 0) {
        /* probe sys NAME...: calls each with all-zero arguments */
        for (int a = 2; a < argc; a++) {
            int i = find(argv[a]);
            long r = syscall(SYS[i].nr, 0L, 0L, 0L, 0L, 0L, 0L);
            printf("%s ret=%ld errno=%d\n", argv[a], r < 0 ? -1L : r, r < 0 ? errno : 0);
        }
        return 0;
    }
#if defined(__x86_64__)
    if (argc >= 3 && strcmp(argv[1], "sys32") == 0) {
        /* probe sys32 NAME...: the same through the i386 ABI (int $0x80) */
        for (int a = 2; a < argc; a++) {
            int i = find(argv[a]);
            long r;
            __asm__ volatile("int $0x80" : "=a"(r) : "a"(SYS[i].nr32), "b"(0L), "c"(0L), "d"(0L), "S"(0L), "D"(0L) : "memory");
            printf("%s ret=%ld errno=%ld\n", argv[a], r < 0 ? -1L : r, r < 0 ? -r : 0L);
        }
        return 0;
    }
#endif
    if (argc == 2 && strcmp(argv[1], "fds") == 0) {
        /* every open descriptor but the one listing them, with its target */
        DIR *d = opendir("/proc/self/fd");
        if (!d) { perror("opendir /proc/self/fd"); return 2; }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d)) continue;
            char p[300], t[4096];
            snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
            ssize_t n = readlink(p, t, sizeof t - 1);
            t[n < 0 ? 0 : n] = 0;
            printf("%s %s\n", e->d_name, t);
        }
        return 0;
    }
    if (argc == 3 && (strcmp(argv[1], "write") == 0 || strcmp(argv[1], "read") == 0)) {
        int w = argv[1][0] == 'w';
        int fd = open(argv[2], (w ? O_WRONLY | O_CREAT : O_RDONLY) | O_CLOEXEC, 0644);
        printf("%s %s errno=%d\n", argv[1], argv[2], fd < 0 ? errno : 0);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "connect") == 0) {
        /* probe connect @NAME: an abstract unix socket */
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        size_t n = strlen(argv[2]);
        if (n >= sizeof a.sun_path) return 2;
        memcpy(a.sun_path, argv[2], n);
        if (a.sun_path[0] == '@') a.sun_path[0] = 0;
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int r = connect(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
        printf("connect %s errno=%d\n", argv[2], r < 0 ? errno : 0);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "segv") == 0) {
        *(volatile int *)0 = 1;
        return 0;
    }
    fprintf(stderr, "usage: probe sys NAME... | sys32 NAME... | fds | write PATH | read PATH | connect @NAME | segv\n");
    return 2;
}
