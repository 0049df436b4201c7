#define _GNU_SOURCE
#include "lockpool_certificates.h"

#include <dlfcn.h>
#include <git2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef int (*parse_file_function)(void *chain, const char *path);

static atomic_int deferring;
static pthread_mutex_t deferred_lock = PTHREAD_MUTEX_INITIALIZER;
static void *deferred_chain;  /* an mbedtls_x509_crt owned by libgit2's TLS configuration */
static char *deferred_path;
static int state;

/* MBEDTLS_ERR_X509_FILE_IO_ERROR */
#define FILE_IO_ERROR (-0x2900)

/* mbedTLS's function, which the one below stands in front of. A static libmbedx509 is linked with
   --wrap=mbedtls_x509_crt_parse_file: libgit2's calls reach __wrap_…, and __real_… is mbedTLS's (Package.swift). A shared
   one is interposed: this executable's definition comes first in the dynamic linker's lookup scope, and mbedTLS's is
   the next one. */
#ifdef LOCKPOOL_STATIC_LIBGIT2
int __real_mbedtls_x509_crt_parse_file(void *chain, const char *path);
static parse_file_function real_parse_file(void) { return __real_mbedtls_x509_crt_parse_file; }
#define STAND_IN __wrap_mbedtls_x509_crt_parse_file
#else
static parse_file_function real_parse_file(void) {
    static _Atomic(parse_file_function) function;
    parse_file_function found = atomic_load(&function);
    if (found == NULL) {
        *(void **)(&found) = dlsym(RTLD_NEXT, "mbedtls_x509_crt_parse_file");
        atomic_store(&function, found);
    }
    return found;
}
#define STAND_IN mbedtls_x509_crt_parse_file
#endif

/* Stands in for mbedTLS's parse of a CA file: records it while libgit2 initialises, else passes it on. The chain is
   `mbedtls_x509_crt *`; lockpool needs no mbedTLS headers to pass it on. */
__attribute__((visibility("default"))) int STAND_IN(void *chain, const char *path) {
    if (atomic_load(&deferring)) {
        char *copy = strdup(path);
        if (copy != NULL) {
            pthread_mutex_lock(&deferred_lock);
            free(deferred_path);
            deferred_chain = chain;
            deferred_path = copy;
            state = 1;
            pthread_mutex_unlock(&deferred_lock);
            return 0;
        }
    }
    parse_file_function real = real_parse_file();
    return real != NULL ? real(chain, path) : FILE_IO_ERROR;
}

int lockpool_git_init_deferring_certificates(void) {
    atomic_store(&deferring, 1);
    int result = git_libgit2_init();
    atomic_store(&deferring, 0);
    return result;
}

int lockpool_load_deferred_certificates(void) {
    int result = 0;
    pthread_mutex_lock(&deferred_lock);
    if (deferred_chain != NULL) {
        parse_file_function real = real_parse_file();
        result = real != NULL ? real(deferred_chain, deferred_path) : FILE_IO_ERROR;
        if (result > 0) result = 0; /* the number of certificates mbedTLS skipped, which libgit2 accepts too */
        free(deferred_path);
        deferred_chain = NULL;
        deferred_path = NULL;
        state = 2;
    }
    pthread_mutex_unlock(&deferred_lock);
    return result;
}

void lockpool_forget_deferred_certificates(void) {
    pthread_mutex_lock(&deferred_lock);
    free(deferred_path);
    deferred_chain = NULL;
    deferred_path = NULL;
    if (state == 1) state = 0;
    pthread_mutex_unlock(&deferred_lock);
}

int lockpool_deferred_certificates_state(void) {
    pthread_mutex_lock(&deferred_lock);
    int current = state;
    pthread_mutex_unlock(&deferred_lock);
    return current;
}
