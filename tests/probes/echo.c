/* The server inside a container for the published-port tests (tests/tests/ports_user.rs).
 *
 *   echo tcp PORT   listens on 0.0.0.0:PORT; each connection (a child process each) gets
 *                   "port PORT peer ADDR:PORT\n" (the address it sees), then everything it
 *                   sends back until it half-closes, then "bye\n" and the connection closes.
 *   echo udp PORT   answers each datagram with "port PORT peer ADDR:PORT " followed by the datagram.
 *
 * It prints "ready\n" on stdout (flushed) once it listens.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: echo tcp|udp PORT\n");
		return 2;
	}
	int udp = strcmp(argv[1], "udp") == 0;
	int s = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || (!udp && listen(s, 64) < 0)) {
		perror("echo: bind");
		return 1;
	}
	signal(SIGCHLD, SIG_IGN);
	printf("ready\n");
	fflush(stdout);
	char buf[65536], line[128];
	for (;;) {
		struct sockaddr_in peer;
		socklen_t len = sizeof peer;
		if (udp) {
			ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&peer, &len);
			if (n < 0)
				continue;
			int h = snprintf(line, sizeof line, "port %s peer %s:%d ", argv[2], inet_ntoa(peer.sin_addr), ntohs(peer.sin_port));
			char out[65536 + 128];
			memcpy(out, line, (size_t)h);
			memcpy(out + h, buf, (size_t)n);
			sendto(s, out, (size_t)h + (size_t)n, 0, (struct sockaddr *)&peer, len);
			continue;
		}
		int c = accept(s, (struct sockaddr *)&peer, &len);
		if (c < 0)
			continue;
		if (fork() == 0) {
			close(s);
			int h = snprintf(line, sizeof line, "port %s peer %s:%d\n", argv[2], inet_ntoa(peer.sin_addr), ntohs(peer.sin_port));
			write_all(c, line, (size_t)h);
			for (;;) {
				ssize_t n = read(c, buf, sizeof buf);
				if (n <= 0)
					break;
				if (write_all(c, buf, (size_t)n) < 0)
					_exit(1);
			}
			write_all(c, "bye\n", 4);
			_exit(0);
		}
		close(c);
	}
}
