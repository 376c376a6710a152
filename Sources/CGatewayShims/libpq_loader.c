// libpq, loaded when the gateway first needs it rather than linked: a gateway on the embedded
// store never maps libpq and the libraries it pulls in (GSSAPI, LDAP, GnuTLS, Kerberos: about
// 5 MB of resident memory at start). Each libpq function the drivers call is defined here under
// its own name and forwards to the one in libpq.so.5, looked up once. `gw_pq_load` loads it up
// front (the gateway calls it at start when DATABASE_URL is PostgreSQL) and says why it could
// not; a later call that finds no libpq aborts with that reason.
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <postgresql/libpq-fe.h>
#include "CGatewayShims.h"

static void *pq_handle;
static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static char pq_error[512];

static void pq_open(void) {
    pq_handle = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!pq_handle) {
        const char *e = dlerror();
        snprintf(pq_error, sizeof pq_error, "%s", e ? e : "dlopen failed");
    }
}

const char *gw_pq_load(void) {
    pthread_once(&pq_once, pq_open);
    return pq_handle ? NULL : pq_error;
}

static void *pq_symbol(const char *name) {
    if (gw_pq_load()) {
        fprintf(stderr, "mcp-gateway: cannot load libpq (apt-get install libpq5): %s\n", pq_error);
        abort();
    }
    void *p = dlsym(pq_handle, name);
    if (!p) {
        fprintf(stderr, "mcp-gateway: libpq.so.5 has no %s\n", name);
        abort();
    }
    return p;
}

#define FORWARD(ret, name, params, args)                                     \
    ret name params {                                                        \
        static ret (*fn) params;                                             \
        if (!fn) fn = (ret (*) params)pq_symbol(#name);                      \
        return fn args;                                                      \
    }
#define FORWARD_VOID(name, params, args)                                     \
    void name params {                                                       \
        static void (*fn) params;                                            \
        if (!fn) fn = (void (*) params)pq_symbol(#name);                     \
        fn args;                                                             \
    }

FORWARD(PGconn *, PQconnectStartParams, (const char *const *keywords, const char *const *values, int expand_dbname),
        (keywords, values, expand_dbname))
FORWARD(PostgresPollingStatusType, PQconnectPoll, (PGconn *conn), (conn))
FORWARD(ConnStatusType, PQstatus, (const PGconn *conn), (conn))
FORWARD(int, PQsocket, (const PGconn *conn), (conn))
FORWARD(int, PQsetnonblocking, (PGconn *conn, int arg), (conn, arg))
FORWARD(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *conn, PQnoticeProcessor proc, void *arg), (conn, proc, arg))
FORWARD(int, PQsendQuery, (PGconn *conn, const char *query), (conn, query))
FORWARD(int, PQsendQueryParams,
        (PGconn *conn, const char *command, int nParams, const Oid *paramTypes, const char *const *paramValues,
         const int *paramLengths, const int *paramFormats, int resultFormat),
        (conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat))
FORWARD(int, PQconsumeInput, (PGconn *conn), (conn))
FORWARD(int, PQisBusy, (PGconn *conn), (conn))
FORWARD(int, PQflush, (PGconn *conn), (conn))
FORWARD(PGresult *, PQgetResult, (PGconn *conn), (conn))
FORWARD_VOID(PQclear, (PGresult *res), (res))
FORWARD_VOID(PQfinish, (PGconn *conn), (conn))
FORWARD(ExecStatusType, PQresultStatus, (const PGresult *res), (res))
FORWARD(char *, PQresultErrorField, (const PGresult *res, int fieldcode), (res, fieldcode))
FORWARD(int, PQntuples, (const PGresult *res), (res))
FORWARD(int, PQnfields, (const PGresult *res), (res))
FORWARD(char *, PQgetvalue, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num))
FORWARD(int, PQgetlength, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num))
FORWARD(int, PQgetisnull, (const PGresult *res, int tup_num, int field_num), (res, tup_num, field_num))
FORWARD(char *, PQfname, (const PGresult *res, int field_num), (res, field_num))
FORWARD(char *, PQerrorMessage, (const PGconn *conn), (conn))
FORWARD(char *, PQcmdTuples, (PGresult *res), (res))
