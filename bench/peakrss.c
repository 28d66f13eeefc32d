/* Peak resident memory of a command's own process, and of its whole waited-for tree.
 * Used by bench/run.sh.
 *
 *   peakrss OUTFILE COMMAND [ARG...]
 *
 * Runs COMMAND (PATH is searched) and appends one line to OUTFILE:
 *     OWN_KIB TREE_KIB STATUS
 * OWN_KIB   peak VmHWM of COMMAND's own process (the top one), read from /proc/PID/status
 *           when it exits (ptrace PTRACE_EVENT_EXIT stop: the address space still exists) and
 *           when it calls execve again (crun re-executes itself from a memfd: the image it
 *           leaves counts too). Children it forks or clones are not traced and not counted.
 * TREE_KIB  ru_maxrss from wait4(): the largest peak of COMMAND and every descendant that was
 *           waited for (a maximum, not a sum); what `/usr/bin/time -f %M` prints. A child
 *           that exec'd counts with its peak before the exec too.
 * STATUS    COMMAND's exit status (128+N if killed by signal N).
 * Only the top process is traced (every system call stops it, to catch execve), so setuid
 * helpers it runs are unaffected. The ptrace stops cost time: do not use this for timing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long hwm_kib(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	long own = -1;
	struct rusage ru;
	int st, code;
	pid_t pid;
	FILE *out;

	if (argc < 3) {
		fprintf(stderr, "usage: peakrss OUTFILE COMMAND [ARG...]\n");
		return 2;
	}
	pid = fork();
	if (pid < 0) {
		perror("peakrss: fork");
		return 2;
	}
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
			_exit(126);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "peakrss: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	/* First stop: the SIGTRAP after the exec. */
	if (waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st)) {
		fprintf(stderr, "peakrss: %s did not start\n", argv[2]);
		return 2;
	}
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
		   (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC | PTRACE_O_TRACESYSGOOD |
				  PTRACE_O_EXITKILL)) < 0) {
		perror("peakrss: PTRACE_SETOPTIONS");
		return 2;
	}
	ptrace(PTRACE_SYSCALL, pid, NULL, NULL);
	for (;;) {
		int sig = 0;
		if (wait4(pid, &st, 0, &ru) < 0) {
			perror("peakrss: wait4");
			return 2;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (!WIFSTOPPED(st))
			continue;
		if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			/* System call stop: before an execve, note the peak of the image it replaces. */
			struct __ptrace_syscall_info info;
			if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info) > 0 &&
			    info.op == PTRACE_SYSCALL_INFO_ENTRY &&
			    (info.entry.nr == SYS_execve || info.entry.nr == SYS_execveat)) {
				long v = hwm_kib(pid);
				if (v > own)
					own = v;
			}
		} else if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
			long v = hwm_kib(pid);
			if (v > own)
				own = v;
		} else if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXEC << 8))) {
			/* nothing: the new image starts its own peak */
		} else {
			sig = WSTOPSIG(st); /* a signal for the tracee: deliver it */
		}
		ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)sig);
	}
	code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	out = fopen(argv[1], "ae");
	if (!out) {
		perror(argv[1]);
		return 2;
	}
	fprintf(out, "%ld %ld %d\n", own, ru.ru_maxrss, code);
	fclose(out);
	return code;
}
