/*
 * http_routes: the list of route files, in matching order. A new route file adds one
 * line X(name) here and defines `const http_route http_routes_name[]`. The console's
 * catch-all must stay last.
 */
#ifndef OTAD_HTTP_ROUTES_H
#define OTAD_HTTP_ROUTES_H

#include "http/http.h"

#define HTTP_ROUTE_FILES                                                                      \
    X(api)                                                                                    \
    X(batch) /* batches and device downloads (routes_batch.c) */                              \
    X(broker) /* brokers other than the plugin: auth, ACL, presence (routes_broker.c) */     \
    X(certs) /* device certificates: issue, list, revoke (routes_certs.c) */                  \
    X(accounts) /* sign-in, users, tokens (routes_accounts.c) */                              \
    X(audit) /* the audit log (audit.c) */                                                    \
    X(webhooks) /* webhooks and their delivery log (routes_webhooks.c) */                     \
    X(metrics) /* GET /metrics, Prometheus text (metrics.c) */                                \
    X(targets) /* device tags, groups, matching counts (routes_targets.c) */                  \
    X(ddi) /* hawkBit DDI devices: /{productKey}/controller/v1/... (routes_ddi.c) */          \
    X(console)

#define X(name) extern const http_route http_routes_##name[];
HTTP_ROUTE_FILES
#undef X

#endif
