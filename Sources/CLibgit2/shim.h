#ifndef LOCKPOOL_CLIBGIT2_SHIM_H
#define LOCKPOOL_CLIBGIT2_SHIM_H
#include <git2.h>

/* lockpool's baseline is libgit2 1.8 (Debian 12: bookworm-backports' libgit2-dev 1.8.4): the git_stream layout of
   lockpool_socket_stream below, git_error_last() that never returns NULL and git_fetch_options.depth (shallow fetch)
   all come from it. Checked before the other headers, which 1.5 lacks (git2/sys/errors.h), so that this is the first error. */
#if LIBGIT2_VER_MAJOR < 1 || (LIBGIT2_VER_MAJOR == 1 && LIBGIT2_VER_MINOR < 8)
#error "lockpool needs libgit2 1.8 or later (Debian 12: bookworm-backports' libgit2-dev); see docs/decisions/0004-libgit2-version.md"
#else
#include <git2/sys/errors.h>
#include <git2/sys/stream.h>
#include <git2/sys/transport.h>
#endif

/* The libgit2 release of the headers lockpool is built against, for ConnectTunnel's layout guard. */
static inline int lockpool_built_libgit2_major(void) { return LIBGIT2_VER_MAJOR; }
static inline int lockpool_built_libgit2_minor(void) { return LIBGIT2_VER_MINOR; }

/* The layout libgit2 1.8's ssh transport expects of a standard stream: it reads the socket `s` of its internal
   git_socket_stream (src/libgit2/streams/socket.h, unchanged from 1.5 to 1.8.4; the public git_stream `parent` grew
   `timeout` and `connect_timeout` in 1.7, which these headers carry). lockpool's stream (ConnectTunnel) uses the same
   layout; its own fields follow `s`, where libgit2 never reads. */
typedef struct {
    git_stream parent;
    char *host;
    char *port;
    int s;
    /* lockpool's: whether TCP_CORK is set (a write since the last read), and the shallow request repair of a git://
       upload-pack connection (ConnectTunnel.swift, docs/decisions/0009-shallow-cache.md). */
    int corked;
    int writes;
    int upload_pack;
    int pipelined_done;
    unsigned char *deepen_request;
    size_t deepen_request_length;
    /* The request a prepared connection (PreparedConnection.swift) already sent, left out of the first write. */
    unsigned char *prepared_request;
    size_t prepared_request_length;
    /* An http:// remote reached through its proxy (HTTPProxy.swift): the origin (`http://host:port`) that request lines
       are made absolute with, and the `Proxy-Authorization` value to add; both NULL on any other connection. */
    char *proxy_origin;
    char *proxy_authorization;
    /* The same connection's response reader (HTTPProxy.ResponseFraming, retained by the stream), else NULL. */
    void *proxy_response;
} lockpool_socket_stream;

/* lockpool's ssh subtransport (SSHTransport.swift, docs/decisions/0010-openssh-transport.md): libgit2's smart
   protocol over the pipes of an OpenSSH client. `owner` is the Swift object behind each (retained). */
typedef struct {
    git_smart_subtransport parent;
    void *owner;
} lockpool_ssh_subtransport;

typedef struct {
    git_smart_subtransport_stream parent;
    void *owner;
} lockpool_ssh_stream;

/* An anonymous file in memory (memfd_create, MFD_CLOEXEC), for the key the OpenSSH client reads through /proc: the
   glibc wrapper is declared only under _GNU_SOURCE. */
#include <sys/syscall.h>
#include <unistd.h>
static inline int lockpool_memfd_create(const char *name) { return (int)syscall(SYS_memfd_create, name, 1u); }

/* git_libgit2_opts is variadic, which Swift cannot call; these wrappers fix the argument types. */
static inline int lockpool_git_set_search_path(int level, const char *path) {
    return git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, path);
}
static inline int lockpool_git_set_owner_validation(int enabled) {
    return git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, enabled);
}
static inline int lockpool_git_set_ssl_cert_locations(const char *file, const char *path) {
    return git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, path);
}
static inline int lockpool_git_set_user_agent(const char *user_agent) {
    return git_libgit2_opts(GIT_OPT_SET_USER_AGENT, user_agent);
}
#endif
