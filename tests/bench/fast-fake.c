/* SPDX-License-Identifier: MIT */
/* The benchmark's fake CCE service: fast enough that the daemon, not the
 * fake, is what a benchmark measures. One thread, epoll, non-blocking
 * OpenSSL, HTTP/1.1 keep-alive. It answers every
 * POST .../clusters/ID/clustercert with the next answer of a pool that
 * answer-pool.py minted before (real certificates and keys from the run's
 * cluster CA, by the Python fake's own code), each answer once per turn of
 * the pool, and GET /_fake/calls/total with {"clustercert_total": N}; any
 * other request gets a 404. It checks no signature or token: the
 * functional tests do that against fake-cce.py.
 *
 *   fast-fake --pool FILE --cert SERVER.pem [--port N] [--lifetime SEC]
 *
 * prints "READY PORT" when it listens on 127.0.0.1, and stops when its
 * standard input closes or after --lifetime seconds (default 3600). */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IN_MAX (64 * 1024)
#define CONN_MAX 4096

typedef struct Conn {
        int fd;
        SSL *ssl;
        char in[IN_MAX];
        size_t in_len;
        char *out;
        size_t out_len, out_off, out_cap;
        bool want_write;        /* EPOLLOUT is on */
} Conn;

static char **answers;
static size_t *answer_len;
static size_t n_answers, next_answer;
static unsigned long long clustercert_total;
static int epfd;

static void die(const char *what) {
        fprintf(stderr, "fast-fake: %s: %s\n", what, strerror(errno));
        ERR_print_errors_fp(stderr);
        exit(1);
}

static void load_pool(const char *path) {
        FILE *f = fopen(path, "re");
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;

        if (!f)
                die(path);
        while ((n = getline(&line, &cap, f)) > 0) {
                if (line[n - 1] == '\n')
                        line[--n] = 0;
                if (n == 0)
                        continue;
                answers = realloc(answers, (n_answers + 1) * sizeof(char *));
                answer_len = realloc(answer_len, (n_answers + 1) * sizeof(size_t));
                if (!answers || !answer_len || !(answers[n_answers] = strdup(line)))
                        die("out of memory");
                answer_len[n_answers++] = (size_t) n;
        }
        free(line);
        fclose(f);
        if (n_answers == 0) {
                fprintf(stderr, "fast-fake: %s holds no answer\n", path);
                exit(1);
        }
}

static void conn_close(Conn *c) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        SSL_free(c->ssl);
        close(c->fd);
        free(c->out);
        free(c);
}

static void want(Conn *c, bool write) {
        if (write == c->want_write)
                return;
        struct epoll_event ev = { .events = EPOLLIN | (write ? EPOLLOUT : 0), .data.ptr = c };
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_write = write;
}

static void respond(Conn *c, int status, const char *body, size_t body_len) {
        char head[256];
        int h = snprintf(head, sizeof(head),
                         "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                         "X-Request-Id: fast%012llx\r\n\r\n",
                         status, status == 200 ? "OK" : "Not Found", body_len, clustercert_total);
        size_t need = c->out_len + (size_t) h + body_len;
        if (need > c->out_cap) {
                c->out_cap = need * 2;
                if (!(c->out = realloc(c->out, c->out_cap)))
                        die("out of memory");
        }
        memcpy(c->out + c->out_len, head, (size_t) h);
        memcpy(c->out + c->out_len + (size_t) h, body, body_len);
        c->out_len = need;
}

/* A whole request at the start of c->in: answered, and taken out. Returns
 * false when it is not all there yet; -1 on a request it cannot read. */
static int handle_request(Conn *c) {
        char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!end)
                return c->in_len >= IN_MAX ? -1 : 0;
        size_t head_len = (size_t) (end - c->in) + 4, body_len = 0;
        *end = 0;  /* the headers as a string, for the searches below */
        for (char *p = strstr(c->in, "\r\n"); p; p = strstr(p + 2, "\r\n"))
                if (strncasecmp(p + 2, "Content-Length:", 15) == 0)
                        body_len = strtoul(p + 17, NULL, 10);
        if (head_len + body_len > IN_MAX)
                return -1;
        if (c->in_len < head_len + body_len) {
                *end = '\r';
                return 0;
        }
        char *sp = strchr(c->in, ' '), *path = sp ? sp + 1 : NULL, *path_end = path ? strchr(path, ' ') : NULL;
        if (!path_end)
                return -1;
        *path_end = 0;
        size_t plen = strlen(path);
        if (strncmp(c->in, "POST ", 5) == 0 && plen > 12 && strcmp(path + plen - 12, "/clustercert") == 0) {
                clustercert_total++;
                size_t i = next_answer++ % n_answers;
                respond(c, 200, answers[i], answer_len[i]);
        } else if (strncmp(c->in, "GET ", 4) == 0 && strcmp(path, "/_fake/calls/total") == 0) {
                char body[64];
                int n = snprintf(body, sizeof(body), "{\"clustercert_total\": %llu}", clustercert_total);
                respond(c, 200, body, (size_t) n);
        } else
                respond(c, 404, "{\"error_code\":\"APIGW.0101\"}", 27);
        memmove(c->in, c->in + head_len + body_len, c->in_len - head_len - body_len);
        c->in_len -= head_len + body_len;
        return 1;
}

/* Reads, answers and writes until the connection would block. */
static void service(Conn *c) {
        for (;;) {
                if (c->out_off < c->out_len) {
                        int n = SSL_write(c->ssl, c->out + c->out_off, (int) (c->out_len - c->out_off));
                        if (n <= 0) {
                                int e = SSL_get_error(c->ssl, n);
                                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                                        want(c, e == SSL_ERROR_WANT_WRITE);
                                else
                                        conn_close(c);
                                return;
                        }
                        c->out_off += (size_t) n;
                        if (c->out_off == c->out_len)
                                c->out_off = c->out_len = 0;
                        continue;
                }
                int r = handle_request(c);
                if (r < 0) {
                        conn_close(c);
                        return;
                }
                if (r > 0)
                        continue;
                int n = SSL_read(c->ssl, c->in + c->in_len, (int) (IN_MAX - c->in_len));
                if (n <= 0) {
                        int e = SSL_get_error(c->ssl, n);
                        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                                want(c, e == SSL_ERROR_WANT_WRITE);
                        else
                                conn_close(c);
                        return;
                }
                c->in_len += (size_t) n;
        }
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "pool", required_argument, NULL, 'p' },
                { "cert", required_argument, NULL, 'c' },
                { "port", required_argument, NULL, 'P' },
                { "lifetime", required_argument, NULL, 'l' },
                {}
        };
        const char *pool = NULL, *cert = NULL;
        int port = 0, opt;
        double lifetime = 3600;

        while ((opt = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (opt) {
                case 'p':
                        pool = optarg;
                        break;
                case 'c':
                        cert = optarg;
                        break;
                case 'P':
                        port = atoi(optarg);
                        break;
                case 'l':
                        lifetime = atof(optarg);
                        break;
                default:
                        return 2;
                }
        if (!pool || !cert) {
                fprintf(stderr, "usage: fast-fake --pool FILE --cert SERVER.pem [--port N] [--lifetime SEC]\n");
                return 2;
        }
        load_pool(pool);

        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, cert, SSL_FILETYPE_PEM) != 1)
                die(cert);
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t salen = sizeof(sa);
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (lfd < 0 || bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, 1024) < 0 ||
            getsockname(lfd, (struct sockaddr *) &sa, &salen) < 0)
                die("listen");
        epfd = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL }, sev = { .events = EPOLLIN, .data.ptr = &epfd };
        if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0)
                die("epoll");
        (void) epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &sev);  /* not a pipe or socket: no watch */
        printf("READY %d\n", ntohs(sa.sin_port));
        fflush(stdout);

        time_t deadline = time(NULL) + (time_t) lifetime;
        struct epoll_event events[64];
        while (time(NULL) < deadline) {
                int n = epoll_wait(epfd, events, 64, 1000);
                if (n < 0 && errno != EINTR)
                        die("epoll_wait");
                for (int i = 0; i < n; i++) {
                        if (events[i].data.ptr == &epfd) {  /* stdin: the caller went away */
                                char b[64];
                                if (read(STDIN_FILENO, b, sizeof(b)) <= 0)
                                        return 0;
                                continue;
                        }
                        if (!events[i].data.ptr) {
                                int fd;
                                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                                        Conn *c = calloc(1, sizeof(Conn));
                                        if (!c || !(c->ssl = SSL_new(ctx)))
                                                die("out of memory");
                                        c->fd = fd;
                                        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                                        SSL_set_fd(c->ssl, fd);
                                        SSL_set_accept_state(c->ssl);
                                        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
                                        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
                                        service(c);
                                }
                                continue;
                        }
                        service(events[i].data.ptr);
                }
        }
        return 0;
}
