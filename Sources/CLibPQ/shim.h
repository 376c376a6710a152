// libpq's declarations only: the functions are defined in CGatewayShims (libpq_loader.c), which
// loads libpq.so.5 when the gateway first needs it, so the binary does not link libpq.
#include <postgresql/libpq-fe.h>
