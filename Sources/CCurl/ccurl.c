#include "ccurl.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The libcurl functions lockpool calls, resolved once. curl_easy_setopt and curl_easy_getinfo are variadic; they are
   called through pointers of their exact C type, which is as valid as calling them directly. */
static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_failure[200];

static void load(void) {
    /* Debian's libcurl4 (OpenSSL), else the GnuTLS build that some images carry instead. */
    static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};
    void *library = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && library == NULL; i++) {
        library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    }
    if (library == NULL) {
        snprintf(load_failure, sizeof load_failure, "libcurl is not installed (libcurl.so.4: %s)", dlerror());
        return;
    }
#define RESOLVE(field, symbol)                                                                              \
    do {                                                                                                    \
        *(void **)(&curl.field) = dlsym(library, symbol);                                                   \
        if (curl.field == NULL) {                                                                           \
            snprintf(load_failure, sizeof load_failure, "libcurl.so.4 lacks %s", symbol);                   \
            return;                                                                                         \
        }                                                                                                   \
    } while (0)
    RESOLVE(global_init, "curl_global_init");
    RESOLVE(easy_init, "curl_easy_init");
    RESOLVE(easy_setopt, "curl_easy_setopt");
    RESOLVE(easy_perform, "curl_easy_perform");
    RESOLVE(easy_getinfo, "curl_easy_getinfo");
    RESOLVE(easy_cleanup, "curl_easy_cleanup");
    RESOLVE(easy_strerror, "curl_easy_strerror");
    RESOLVE(slist_append, "curl_slist_append");
    RESOLVE(slist_free_all, "curl_slist_free_all");
#undef RESOLVE
    /* curl_global_init is not thread-safe; pthread_once makes this its only call. */
    if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(load_failure, sizeof load_failure, "curl_global_init failed");
    }
}

typedef struct {
    lockpool_http_response *response;
    size_t limit;
    int out_of_memory;
} body_sink;

static size_t keep_body(char *data, size_t size, size_t count, void *payload) {
    body_sink *sink = payload;
    size_t length = size * count;
    size_t room = sink->limit > sink->response->body_length ? sink->limit - sink->response->body_length : 0;
    size_t kept = length < room ? length : room;
    if (kept > 0) {
        unsigned char *grown = realloc(sink->response->body, sink->response->body_length + kept);
        if (grown == NULL) {
            sink->out_of_memory = 1;
            return 0; /* aborts the transfer */
        }
        memcpy(grown + sink->response->body_length, data, kept);
        sink->response->body = grown;
        sink->response->body_length += kept;
    }
    return length;
}

static lockpool_http_failure classify(CURLcode code, long os_errno) {
    switch (code) {
    case CURLE_OK: return LOCKPOOL_HTTP_OK;
    case CURLE_COULDNT_CONNECT: return os_errno == 0 || os_errno == 111 /* ECONNREFUSED */ ? LOCKPOOL_HTTP_REFUSED
                                                                                            : LOCKPOOL_HTTP_OTHER;
    case CURLE_COULDNT_RESOLVE_HOST: return LOCKPOOL_HTTP_HOST_NOT_FOUND;
    case CURLE_OPERATION_TIMEDOUT: return LOCKPOOL_HTTP_TIMED_OUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        return LOCKPOOL_HTTP_TLS;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return LOCKPOOL_HTTP_CONNECTION_LOST;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return LOCKPOOL_HTTP_BAD_URL;
    default: return LOCKPOOL_HTTP_OTHER;
    }
}

static lockpool_http_failure fail(lockpool_http_response *response, lockpool_http_failure failure, const char *why) {
    response->failure = failure;
    snprintf(response->message, sizeof response->message, "%s", why);
    return failure;
}

lockpool_http_failure lockpool_http_perform(const lockpool_http_request *request, lockpool_http_response *response) {
    memset(response, 0, sizeof *response);
    pthread_once(&load_once, load);
    if (load_failure[0] != '\0') return fail(response, LOCKPOOL_HTTP_UNAVAILABLE, load_failure);

    CURL *handle = curl.easy_init();
    if (handle == NULL) return fail(response, LOCKPOOL_HTTP_OTHER, "curl_easy_init failed");
    struct curl_slist *headers = NULL;
    for (size_t i = 0; i < request->header_count; i++) {
        struct curl_slist *appended = curl.slist_append(headers, request->headers[i]);
        if (appended == NULL) {
            curl.slist_free_all(headers);
            curl.easy_cleanup(handle);
            return fail(response, LOCKPOOL_HTTP_OTHER, "out of memory");
        }
        headers = appended;
    }
    /* No "Expect: 100-continue" round trip before a body. */
    struct curl_slist *appended = curl.slist_append(headers, "Expect:");
    if (appended != NULL) headers = appended;

    char errors[CURL_ERROR_SIZE] = "";
    body_sink sink = {response, request->max_response, 0};
    curl.easy_setopt(handle, CURLOPT_ERRORBUFFER, errors);
    curl.easy_setopt(handle, CURLOPT_URL, request->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl.easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl.easy_setopt(handle, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl.easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);          /* threads, and no SIGALRM for timeouts */
    curl.easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
    curl.easy_setopt(handle, CURLOPT_TIMEOUT_MS, request->timeout_ms);
    curl.easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, request->timeout_ms);
    curl.easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    curl.easy_setopt(handle, CURLOPT_USERAGENT, "lockpool");
    curl.easy_setopt(handle, CURLOPT_WRITEFUNCTION, keep_body);
    curl.easy_setopt(handle, CURLOPT_WRITEDATA, &sink);
    if (strcmp(request->method, "GET") == 0) {
        curl.easy_setopt(handle, CURLOPT_HTTPGET, 1L);
    } else {
        curl.easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request->method);
        curl.easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_length);
        curl.easy_setopt(handle, CURLOPT_POSTFIELDS, request->body_length > 0 ? request->body : "");
    }

    CURLcode code = curl.easy_perform(handle);
    long os_errno = 0;
    curl.easy_getinfo(handle, CURLINFO_OS_ERRNO, &os_errno);
    curl.easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response->status);
    curl.easy_cleanup(handle);
    curl.slist_free_all(headers);

    if (sink.out_of_memory) return fail(response, LOCKPOOL_HTTP_OTHER, "out of memory");
    if (code != CURLE_OK) {
        return fail(response, classify(code, os_errno), errors[0] != '\0' ? errors : curl.easy_strerror(code));
    }
    response->failure = LOCKPOOL_HTTP_OK;
    return LOCKPOOL_HTTP_OK;
}

void lockpool_http_response_free(lockpool_http_response *response) {
    free(response->body);
    response->body = NULL;
    response->body_length = 0;
}
