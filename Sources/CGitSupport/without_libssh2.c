/* libgit2's own ssh transport, left out of lockpool's executables.

   lockpool gives libgit2 its own transport for every ssh URL (ssh over the OpenSSH client, SSHTransport.swift;
   docs/decisions/0010-openssh-transport.md), so libgit2's libssh2 transport is never used. With libgit2 linked
   statically (docs/decisions/0013-cold-process.md), these three definitions stand for the archive member that holds it
   (ssh_libssh2.c.o): the linker then never takes that member, nor libssh2 and OpenSSL's libcrypto behind it, which
   would add 4 MB to every executable and OpenSSL's initialisation to every process. Should a libgit2 release rename
   them, the member is taken again and the link fails on libssh2's missing symbols: a build error, never a silent
   change. */
#ifdef LOCKPOOL_STATIC_LIBGIT2
#include <git2.h>
#include <git2/sys/errors.h>
#include <git2/sys/transport.h>

static int not_linked(void) {
    git_error_set_str(GIT_ERROR_SSH, "libgit2's libssh2 transport is not part of lockpool (ssh runs over OpenSSH)");
    return -1;
}

int git_transport_ssh_libssh2_global_init(void) { return 0; }

int git_smart_subtransport_ssh_libssh2(git_smart_subtransport **out, git_transport *owner, void *param) {
    (void)owner;
    (void)param;
    *out = NULL;
    return not_linked();
}

int git_smart_subtransport_ssh_libssh2_set_paths(
    git_smart_subtransport *subtransport, const char *public_key, const char *private_key) {
    (void)subtransport;
    (void)public_key;
    (void)private_key;
    return not_linked();
}
#endif
