/* The floor for a rootless container start with a full id map: what `burrow run` must do at
 * the least, written as plainly as possible in C. Used by bench/run.sh.
 *
 *   minimal [-s|-1] ROOTFS [COMMAND [ARG...]]      (COMMAND defaults to /bin/true)
 *
 * 1. clone(CLONE_NEWUSER|NEWNS|NEWPID|NEWIPC|NEWUTS|NEWNET|NEWCGROUP) (fork-like, no stack);
 * 2. the parent maps the child's ids with shadow's helpers, fork+exec of
 *        /usr/bin/newuidmap PID 0 UID 1 1 SUBUID COUNT
 *        /usr/bin/newgidmap PID 0 GID 1 1 SUBGID COUNT
 *    both at once (as burrow does), or one after the other with -s; with -1 it writes a
 *    single-id map itself instead (setgroups "deny", "0 UID 1", "0 GID 1": no helper, the
 *    floor without subordinate ids); then releases the child through a pipe and waits for it;
 * 3. the child (pid 1 of the new pid namespace, root of the new user namespace once mapped):
 *    makes / private, bind-mounts ROOTFS on itself, mounts a fresh /proc in it,
 *    pivot_root(".", "."), detaches the old root, execs COMMAND.
 *
 * The ranges are the caller's first lines in /etc/subuid and /etc/subgid (by name or uid),
 * whole, as burrow maps them. No /dev, no masking, no capability or seccomp setup: this is the floor.
 * Exits with the command's status (128+N if killed by signal N), 125 on its own errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "minimal: %s: %s\n", what, strerror(errno));
	_exit(125);
}

/* First "owner:start:count" line of FILE whose owner is NAME or UID. */
static int subrange(const char *file, const char *name, unsigned uid, unsigned long *start,
		    unsigned long *count)
{
	FILE *f = fopen(file, "re");
	char line[512], uidstr[16];
	if (!f)
		return -1;
	snprintf(uidstr, sizeof uidstr, "%u", uid);
	while (fgets(line, sizeof line, f)) {
		char *c1 = strchr(line, ':'), *c2;
		if (!c1 || !(c2 = strchr(c1 + 1, ':')))
			continue;
		*c1 = 0;
		if (strcmp(line, name) != 0 && strcmp(line, uidstr) != 0)
			continue;
		*start = strtoul(c1 + 1, NULL, 10);
		*count = strtoul(c2 + 1, NULL, 10);
		fclose(f);
		return 0;
	}
	fclose(f);
	errno = ENOENT;
	return -1;
}

static pid_t helper(const char *path, pid_t target, unsigned own, unsigned long start,
		    unsigned long count)
{
	char p[16], o[16], s[24], c[24];
	pid_t pid;
	snprintf(p, sizeof p, "%d", (int)target);
	snprintf(o, sizeof o, "%u", own);
	snprintf(s, sizeof s, "%lu", start);
	snprintf(c, sizeof c, "%lu", count);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		execl(path, path, p, "0", o, "1", "1", s, c, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void write_file(pid_t pid, const char *name, const char *text)
{
	char path[64];
	int fd;
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die(path);
	close(fd);
}

static void reap_ok(pid_t pid, const char *what)
{
	int st;
	if (waitpid(pid, &st, 0) < 0)
		die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "minimal: %s failed (status 0x%x)\n", what, st);
		_exit(125);
	}
}

int main(int argc, char **argv)
{
	static char *const dflt[] = { "/bin/true", NULL };
	int mode = 0, sync[2], st; /* 0: helpers at once, 's': one after the other, '1': direct */
	unsigned long us, uc, gs, gc;
	char *const *cmd = dflt;
	const char *rootfs;
	struct passwd *pw;
	pid_t child;
	char go;

	if (argc > 1 && (strcmp(argv[1], "-s") == 0 || strcmp(argv[1], "-1") == 0)) {
		mode = argv[1][1];
		argv++, argc--;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: minimal [-s|-1] ROOTFS [COMMAND [ARG...]]\n");
		return 125;
	}
	rootfs = argv[1];
	if (argc > 2)
		cmd = argv + 2;
	if (mode != '1') {
		pw = getpwuid(getuid());
		if (!pw)
			die("getpwuid");
		if (subrange("/etc/subuid", pw->pw_name, getuid(), &us, &uc) < 0)
			die("/etc/subuid");
		if (subrange("/etc/subgid", pw->pw_name, getuid(), &gs, &gc) < 0)
			die("/etc/subgid");
	}
	if (pipe2(sync, O_CLOEXEC) < 0)
		die("pipe2");

	child = (pid_t)syscall(SYS_clone,
			       CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
				       CLONE_NEWNET | CLONE_NEWCGROUP | SIGCHLD,
			       NULL, NULL, NULL, 0);
	if (child < 0)
		die("clone");
	if (child == 0) {
		close(sync[1]);
		if (read(sync[0], &go, 1) != 1)
			_exit(125); /* the parent failed */
		close(sync[0]);
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			die("make / private");
		if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
			die("bind rootfs");
		if (chdir(rootfs) < 0)
			die("chdir rootfs");
		if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			die("mount proc");
		if (syscall(SYS_pivot_root, ".", ".") < 0)
			die("pivot_root");
		if (umount2(".", MNT_DETACH) < 0)
			die("detach old root");
		if (chdir("/") < 0)
			die("chdir /");
		execv(cmd[0], cmd);
		die(cmd[0]);
	}

	close(sync[0]);
	if (mode == '1') {
		char line[32];
		write_file(child, "setgroups", "deny");
		snprintf(line, sizeof line, "0 %u 1", getuid());
		write_file(child, "uid_map", line);
		snprintf(line, sizeof line, "0 %u 1", getgid());
		write_file(child, "gid_map", line);
	} else if (mode == 's') {
		reap_ok(helper("/usr/bin/newuidmap", child, getuid(), us, uc), "newuidmap");
		reap_ok(helper("/usr/bin/newgidmap", child, getgid(), gs, gc), "newgidmap");
	} else {
		pid_t u = helper("/usr/bin/newuidmap", child, getuid(), us, uc);
		pid_t g = helper("/usr/bin/newgidmap", child, getgid(), gs, gc);
		reap_ok(u, "newuidmap");
		reap_ok(g, "newgidmap");
	}
	go = 'G';
	if (write(sync[1], &go, 1) != 1)
		die("release the child");
	close(sync[1]);
	if (waitpid(child, &st, 0) < 0)
		die("waitpid");
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}
