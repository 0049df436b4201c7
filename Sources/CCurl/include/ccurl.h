#ifndef LOCKPOOL_CCURL_H
#define LOCKPOOL_CCURL_H
#include <stddef.h>

/* One HTTP request through libcurl, which is loaded with dlopen on first use. Only the steps that push metrics or
   ask the Concourse API load it: the resource executables start without libcurl and its ~30 libraries
   (docs/decisions/0002-libcurl-through-dlopen.md). */

typedef enum {
    LOCKPOOL_HTTP_OK = 0,
    LOCKPOOL_HTTP_UNAVAILABLE,   /* libcurl could not be loaded; message says why */
    LOCKPOOL_HTTP_REFUSED,       /* nothing listens at the address */
    LOCKPOOL_HTTP_HOST_NOT_FOUND,
    LOCKPOOL_HTTP_TIMED_OUT,     /* timeout_ms passed */
    LOCKPOOL_HTTP_TLS,           /* handshake or certificate verification failed */
    LOCKPOOL_HTTP_CONNECTION_LOST,
    LOCKPOOL_HTTP_BAD_URL,
    LOCKPOOL_HTTP_OTHER,
} lockpool_http_failure;

typedef struct {
    const char *method;              /* "GET", "PUT", … */
    const char *url;                 /* http:// or https:// only */
    const char *const *headers;      /* "Name: value" lines */
    size_t header_count;
    const void *body;                /* sent when body_length > 0 or the method is not GET */
    size_t body_length;
    long timeout_ms;                 /* bound on the whole request, connection included */
    size_t max_response;             /* bytes of the answer's body to keep; the rest is read and dropped */
} lockpool_http_request;

typedef struct {
    lockpool_http_failure failure;
    long status;                     /* the HTTP status, 0 when there was no answer */
    char message[256];               /* libcurl's words for a failure (no URL userinfo: libcurl never prints it) */
    unsigned char *body;             /* malloc'd; free with lockpool_http_response_free */
    size_t body_length;
} lockpool_http_response;

/* Performs `request`; fills `response` (whose body must be freed) and returns its failure. Thread-safe. */
lockpool_http_failure lockpool_http_perform(const lockpool_http_request *request, lockpool_http_response *response);

void lockpool_http_response_free(lockpool_http_response *response);

#endif
