/*
 * Test helper for tests/integ/inventory-network.sh: listens on a TCP port and binds a UDP
 * port on the address given (ports chosen by the kernel), prints "TCP_PORT UDP_PORT" and
 * waits to be killed, so the test knows the pid and ports the inventory must report.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int open_socket(int family, int type, const char *addr, unsigned *ret_port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *) &ss;

		in->sin_family = AF_INET;
		(void) inet_pton(AF_INET, addr, &in->sin_addr);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;

		in6->sin6_family = AF_INET6;
		(void) inet_pton(AF_INET6, addr, &in6->sin6_addr);
		len = sizeof(*in6);
	}
	fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *) &ss, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 8) < 0) ||
	    getsockname(fd, (struct sockaddr *) &ss, &len) < 0) {
		perror("net-listener");
		return -1;
	}
	*ret_port = ntohs(family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
					    : ((struct sockaddr_in6 *) &ss)->sin6_port);
	return fd;
}

int main(int argc, char **argv)
{
	unsigned char buf[16];
	unsigned tcp_port, udp_port;
	int family;

	if (argc != 2) {
		fprintf(stderr, "usage: net-listener ADDRESS\n");
		return 2;
	}
	family = inet_pton(AF_INET, argv[1], buf) == 1 ? AF_INET : AF_INET6;
	if (open_socket(family, SOCK_STREAM, argv[1], &tcp_port) < 0 ||
	    open_socket(family, SOCK_DGRAM, argv[1], &udp_port) < 0)
		return 1;
	printf("%u %u\n", tcp_port, udp_port);
	fflush(stdout);
	for (;;)
		pause();
}
