#ifndef LOCKPOOL_CERTIFICATES_H
#define LOCKPOOL_CERTIFICATES_H

/* Deferred loading of the system's certificate authorities.

   Debian's libgit2 (mbedTLS) parses the whole CA bundle (/etc/ssl/certs/ca-certificates.crt, ~140 certificates) in
   git_libgit2_init: about 6 ms of every lockpool process, although only https remotes need it. lockpool's
   executables put a function in front of mbedtls_x509_crt_parse_file (the linker's --wrap for the static libmbedx509
   lockpool links by default, interposition for a shared one; see certificates.c): while
   lockpool_git_init_deferring_certificates runs git_libgit2_init, the call is recorded instead of made, and
   lockpool_load_deferred_certificates makes it (once) before the first http(s) remote is used. Every other call goes
   straight to mbedTLS. With another TLS backend the function is never called and nothing is deferred. */

/* git_libgit2_init, deferring the CA bundle parse. Returns git_libgit2_init's result. */
int lockpool_git_init_deferring_certificates(void);

/* Parses the deferred CA bundle into the chain libgit2 gave it, if one is pending. Returns 0 when nothing is pending
   or the parse succeeded (mbedTLS may skip certificates it cannot read, as libgit2 accepts), else mbedTLS's negative
   error code. Thread-safe. */
int lockpool_load_deferred_certificates(void);

/* Drops a pending deferred parse: GIT_OPT_SET_SSL_CERT_LOCATIONS replaced (and freed) the chain it would fill. */
void lockpool_forget_deferred_certificates(void);

/* 0: nothing deferred (another TLS backend, or the symbol was not interposed); 1: a parse is pending; 2: it ran. */
int lockpool_deferred_certificates_state(void);

#endif
