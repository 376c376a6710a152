// Re-exports of what Swift cannot import directly: libev's function-like macros, hiredis's
// header-only libev adapter, curl's variadic option setters, accept4, OpenSSL's composite selection
// macros and its control macros (`SSL_set_tlsext_host_name`, `SSL_CTX_set_min_proto_version`, ...).
// No logic lives here.
#ifndef CGATEWAYSHIMS_H
#define CGATEWAYSHIMS_H

#include <ev.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <curl/curl.h>
#include <http_parser.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <malloc.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

// libev
struct ev_loop *gw_ev_default_loop(void);
void gw_ev_io_init(ev_io *w, void (*cb)(struct ev_loop *, ev_io *, int), int fd, int events);
void gw_ev_io_set(ev_io *w, int fd, int events);
void gw_ev_timer_init(ev_timer *w, void (*cb)(struct ev_loop *, ev_timer *, int), double after, double repeat);
void gw_ev_timer_set(ev_timer *w, double after, double repeat);
void gw_ev_signal_init(ev_signal *w, void (*cb)(struct ev_loop *, ev_signal *, int), int signum);
void gw_ev_async_init(ev_async *w, void (*cb)(struct ev_loop *, ev_async *, int));
void gw_ev_prepare_init(ev_prepare *w, void (*cb)(struct ev_loop *, ev_prepare *, int));
int gw_ev_is_active(const void *w);
void gw_ev_set_data(void *w, void *data);
void *gw_ev_get_data(const void *w);

// hiredis: attach an async context to a libev loop (the adapter is header-only static code)
int gw_redis_libev_attach(struct ev_loop *loop, redisAsyncContext *ac);

// curl: typed wrappers around the variadic setters
CURLcode gw_curl_easy_setopt_long(CURL *h, CURLoption o, long v);
CURLcode gw_curl_easy_setopt_ptr(CURL *h, CURLoption o, const void *v);
CURLcode gw_curl_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v);
CURLcode gw_curl_easy_setopt_write_cb(CURL *h, size_t (*cb)(char *, size_t, size_t, void *));
CURLcode gw_curl_easy_setopt_header_cb(CURL *h, size_t (*cb)(char *, size_t, size_t, void *));
CURLcode gw_curl_easy_getinfo_long(CURL *h, CURLINFO i, long *v);
CURLcode gw_curl_easy_getinfo_ptr(CURL *h, CURLINFO i, void **v);
CURLcode gw_curl_easy_getinfo_double(CURL *h, CURLINFO i, double *v);
CURLMcode gw_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v);
CURLMcode gw_curl_multi_setopt_ptr(CURLM *m, CURLMoption o, void *v);
CURLMcode gw_curl_multi_setopt_socket_cb(CURLM *m, int (*cb)(CURL *, curl_socket_t, int, void *, void *));
CURLMcode gw_curl_multi_setopt_timer_cb(CURLM *m, int (*cb)(CURLM *, long, void *));

// OpenSSL: what EVP_PKEY_fromdata imports (the macro ORs other macros, which Swift cannot import)
int gw_evp_pkey_public_key_selection(void);
// OpenSSL: libssl's control macros (each one SSL_ctrl / SSL_CTX_ctrl call)
long gw_ssl_set_tlsext_host_name(SSL *ssl, const char *name);
long gw_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version);
long gw_ssl_ctx_set_max_proto_version(SSL_CTX *ctx, int version);
long gw_ssl_ctx_set_mode(SSL_CTX *ctx, long mode);
long gw_ssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode);

// memory
int gw_malloc_trim(void);

// sockets
int gw_accept4(int fd, int flags);
int gw_sock_nonblock_cloexec(void);
#endif
