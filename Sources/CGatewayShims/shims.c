#define _GNU_SOURCE
#include "CGatewayShims.h"
#include <hiredis/adapters/libev.h>

struct ev_loop *gw_ev_default_loop(void) { return ev_default_loop(EVFLAG_AUTO); }
void gw_ev_io_init(ev_io *w, void (*cb)(struct ev_loop *, ev_io *, int), int fd, int events) { ev_io_init(w, cb, fd, events); }
void gw_ev_io_set(ev_io *w, int fd, int events) { ev_io_set(w, fd, events); }
void gw_ev_timer_init(ev_timer *w, void (*cb)(struct ev_loop *, ev_timer *, int), double after, double repeat) { ev_timer_init(w, cb, after, repeat); }
void gw_ev_timer_set(ev_timer *w, double after, double repeat) { ev_timer_set(w, after, repeat); }
void gw_ev_signal_init(ev_signal *w, void (*cb)(struct ev_loop *, ev_signal *, int), int signum) { ev_signal_init(w, cb, signum); }
void gw_ev_async_init(ev_async *w, void (*cb)(struct ev_loop *, ev_async *, int)) { ev_async_init(w, cb); }
void gw_ev_prepare_init(ev_prepare *w, void (*cb)(struct ev_loop *, ev_prepare *, int)) { ev_prepare_init(w, cb); }
int gw_ev_is_active(const void *w) { return ev_is_active((const ev_watcher *)w); }
void gw_ev_set_data(void *w, void *data) { ((ev_watcher *)w)->data = data; }
void *gw_ev_get_data(const void *w) { return ((const ev_watcher *)w)->data; }

int gw_redis_libev_attach(struct ev_loop *loop, redisAsyncContext *ac) { return redisLibevAttach(loop, ac); }

int gw_accept4(int fd, int flags) { return accept4(fd, NULL, NULL, flags); }
int gw_sock_nonblock_cloexec(void) { return SOCK_NONBLOCK | SOCK_CLOEXEC; }
int gw_evp_pkey_public_key_selection(void) { return EVP_PKEY_PUBLIC_KEY; }
long gw_ssl_set_tlsext_host_name(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
long gw_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) { return SSL_CTX_set_min_proto_version(ctx, version); }
long gw_ssl_ctx_set_max_proto_version(SSL_CTX *ctx, int version) { return SSL_CTX_set_max_proto_version(ctx, version); }
long gw_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
long gw_ssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_session_cache_mode(ctx, mode); }

int gw_malloc_trim(void) { return malloc_trim(0); }
