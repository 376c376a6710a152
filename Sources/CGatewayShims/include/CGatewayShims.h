// Re-exports of what Swift cannot import directly: libev's function-like macros, hiredis's
// header-only libev adapter, accept4, OpenSSL's composite selection macros and its control macros
// (`SSL_set_tlsext_host_name`, `SSL_CTX_set_min_proto_version`, ...). No logic lives here,
// except libpq_loader.c: libpq loaded on first use (`gw_pq_load`) instead of linked.
#ifndef CGATEWAYSHIMS_H
#define CGATEWAYSHIMS_H

#include <ev.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
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

// libpq, loaded on demand: NULL once loaded, else why it could not be (libpq_loader.c).
const char *gw_pq_load(void);

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
