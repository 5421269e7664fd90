/* A minimal single-threaded TCP echo server on liburing (accept, recv and send as ring
 * operations): the floor the tcp_echo bench compares weft's io_uring backend with. Binds
 * 127.0.0.1 on a free port and prints "port N". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define MSG 1024
enum { ACCEPT, RECV, SEND };

struct conn {
    int fd;
    int op;
    char buf[MSG];
};

static struct io_uring ring;

static struct io_uring_sqe *sqe(void) {
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    if (!s) {
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
    }
    return s;
}

static void post_recv(struct conn *c) {
    struct io_uring_sqe *s = sqe();
    c->op = RECV;
    io_uring_prep_recv(s, c->fd, c->buf, MSG, 0);
    io_uring_sqe_set_data(s, c);
}

static void post_send(struct conn *c, int len) {
    struct io_uring_sqe *s = sqe();
    c->op = SEND;
    io_uring_prep_send(s, c->fd, c->buf, len, 0);
    io_uring_sqe_set_data(s, c);
}

int main(void) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, len) || listen(lfd, 1024)) {
        perror("listen");
        return 1;
    }
    getsockname(lfd, (struct sockaddr *)&addr, &len);
    printf("port %d\n", ntohs(addr.sin_port));
    fflush(stdout);
    /* ECHO_URING_DEFER=1: a ring only this thread submits to, its completion work run when
     * it waits (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN). */
    unsigned flags = 0;
    const char *defer = getenv("ECHO_URING_DEFER");
    if (defer && defer[0] == '1')
        flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (io_uring_queue_init(1024, &ring, flags) < 0) {
        perror("io_uring_queue_init");
        return 1;
    }
    struct conn acceptor = {.fd = lfd, .op = ACCEPT};
    struct io_uring_sqe *s = sqe();
    io_uring_prep_accept(s, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data(s, &acceptor);
    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            struct conn *c = io_uring_cqe_get_data(cqe);
            int res = cqe->res;
            if (c->op == ACCEPT) {
                if (res >= 0) {
                    int one = 1;
                    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *n = malloc(sizeof *n);
                    n->fd = res;
                    post_recv(n);
                }
                struct io_uring_sqe *a = sqe();
                io_uring_prep_accept(a, lfd, NULL, NULL, SOCK_CLOEXEC);
                io_uring_sqe_set_data(a, &acceptor);
            } else if (c->op == RECV) {
                if (res <= 0) {
                    close(c->fd);
                    free(c);
                } else {
                    post_send(c, res);
                }
            } else {
                if (res < 0) {
                    close(c->fd);
                    free(c);
                } else {
                    post_recv(c);
                }
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}
