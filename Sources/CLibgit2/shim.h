#ifndef LOCKPOOL_CLIBGIT2_SHIM_H
#define LOCKPOOL_CLIBGIT2_SHIM_H
#include <git2.h>
#include <git2/sys/stream.h>

/* The layout libgit2 1.5's ssh transport expects of a standard stream: it reads the socket `s` of its
   internal git_socket_stream. lockpool's HTTP CONNECT tunnel stream (https_tunnel) uses the same layout. */
typedef struct {
    git_stream parent;
    char *host;
    char *port;
    int s;
} lockpool_socket_stream;

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
/* Shallow fetch: `git_fetch_options.depth` exists from libgit2 1.7 on. Returns -1 (and sets nothing) when the
   headers lockpool is built against are older, so the same source builds against Debian 12's 1.5. */
static inline int lockpool_fetch_options_set_depth(git_fetch_options *options, int depth) {
#if LIBGIT2_VER_MAJOR > 1 || (LIBGIT2_VER_MAJOR == 1 && LIBGIT2_VER_MINOR >= 7)
    options->depth = depth;
    return 0;
#else
    (void)options;
    (void)depth;
    return -1;
#endif
}
#endif
