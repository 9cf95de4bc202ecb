/*
 * pam_script_auth of the rds-emulator test bed: asks the token verifier daemon
 * (verifier.py --serve) whether the token in PAM_AUTHTOK lets PAM_USER log in to
 * PAM_SERVICE, and exits 0 (accept) or non-zero (refuse).
 *
 * Why a compiled client: pam_script starts this program for every login, and
 * starting Python for each one costs ~20 ms of CPU, which would make the bed's
 * token check cost far more than RDS's and dominate the connection benchmarks.
 * This client costs well under a millisecond; the decision is made by the same
 * Python code either way.
 *
 * When the daemon's socket is missing, refuses connections or does not accept
 * one in time, it runs the verifier itself (VERIFIER_PATH in PAM mode, same
 * environment), so logins never depend on the daemon. Any other failure refuses
 * the login (fail closed). alarm(15) bounds the whole check, the exec'd fallback
 * included (a pending alarm survives exec): a stuck daemon never hangs a login.
 *
 * Built by tests/rds-emulator/setup:
 *   cc -O2 -Wall -Wextra -DSOCKET_PATH='"..."' -DVERIFIER_PATH='"..."'
 * The socket path is fixed at build time on purpose: the database server's
 * environment reaches this program through pam_script, so an environment
 * variable naming the socket could point it at one that answers "accept".
 * RDS_EMULATOR_VERIFIER_DIRECT=1 only forces the direct check (never a socket),
 * for the bed's self-checks of the fallback.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SOCKET_PATH
#error "build with -DSOCKET_PATH"
#endif
#ifndef VERIFIER_PATH
#error "build with -DVERIFIER_PATH"
#endif

enum { EXIT_ACCEPT = 0, EXIT_REFUSE = 1, EXIT_BROKEN = 2 };

static const char *env_or_empty(const char *name) {
    const char *value = getenv(name);
    return value ? value : "";
}

/* MSG_NOSIGNAL: a daemon that went away must not kill this process with SIGPIPE. */
static int send_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Runs the verifier in PAM mode in this process's place. */
static int run_verifier_directly(const char *why) {
    fprintf(stderr, "rds-emulator verifier-client: %s; running %s directly\n", why, VERIFIER_PATH);
    execl("/usr/bin/python3", "python3", "-I", VERIFIER_PATH, (char *)NULL);
    perror("rds-emulator verifier-client: exec python3");
    return EXIT_BROKEN;
}

int main(void) {
    /* An ignored or blocked SIGALRM survives fork and exec (a server may have set
     * either for its own threads): reset both, or the alarm would bound nothing. */
    sigset_t alarm_only;
    sigemptyset(&alarm_only);
    sigaddset(&alarm_only, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &alarm_only, NULL);
    signal(SIGALRM, SIG_DFL);
    alarm(15);
    if (strcmp(env_or_empty("RDS_EMULATOR_VERIFIER_DIRECT"), "1") == 0)
        return run_verifier_directly("RDS_EMULATOR_VERIFIER_DIRECT=1");
    const char *socket_path = SOCKET_PATH;

    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(socket_path) >= sizeof addr.sun_path) {
        fprintf(stderr, "rds-emulator verifier-client: socket path too long\n");
        return EXIT_BROKEN;
    }
    strcpy(addr.sun_path, socket_path);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("rds-emulator verifier-client: socket");
        return EXIT_BROKEN;
    }
    /* Before connect: on a Unix socket SO_SNDTIMEO also bounds a connect that waits
     * for room in a full listen queue (it then fails with EAGAIN). */
    struct timeval timeout = {.tv_sec = 5, .tv_usec = 0}; /* leaves a fallback 10 s of the alarm */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED) {
            close(fd);
            return run_verifier_directly("no verifier daemon");
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT) {
            close(fd);
            return run_verifier_directly("the verifier daemon did not accept in time");
        }
        perror("rds-emulator verifier-client: connect");
        return EXIT_BROKEN;
    }

    /* verify\0SERVICE\0USER\0TOKEN: environment strings cannot hold a NUL. */
    const char *fields[] = {"verify", env_or_empty("PAM_SERVICE"), env_or_empty("PAM_USER"),
                            env_or_empty("PAM_AUTHTOK")};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if ((i > 0 && send_all(fd, "", 1) < 0) || send_all(fd, fields[i], strlen(fields[i])) < 0) {
            perror("rds-emulator verifier-client: send");
            return EXIT_BROKEN;
        }
    }
    shutdown(fd, SHUT_WR);

    char reply[256];
    size_t got = 0;
    while (got < sizeof reply - 1) {
        ssize_t n = read(fd, reply + got, sizeof reply - 1 - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("rds-emulator verifier-client: receive");
            return EXIT_BROKEN;
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    close(fd);
    reply[got] = '\0';
    if (strcmp(reply, "accept ok\n") == 0) return EXIT_ACCEPT;
    if (strncmp(reply, "refuse ", 7) == 0) return EXIT_REFUSE;
    fprintf(stderr, "rds-emulator verifier-client: unexpected reply from the daemon\n");
    return EXIT_BROKEN;
}
