/*
 * auth: who is calling, and whether their role is enough for the route. The credential
 * is "Authorization: Bearer <token>": the bootstrap admin token (OTA_ADMIN_TOKEN, or the
 * one kept in DATA/keys/admin.token; always role admin), or a token handed out by
 * POST /api/v1/tokens or POST /api/v1/auth/login, known to the store only by its SHA-256
 * (store_accounts.h). Nothing is cached between requests, so a revoked token, an expired
 * one or a disabled user stops working at the next request, on every otad sharing the
 * store.
 *
 * Expected load: every API request; one SHA-256 and one indexed SELECT (the bootstrap
 * token needs neither).
 */
#include "http/http.h"

#include "ota_crypto.h"
#include "ota_log.h"
#include "ota_time.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const access_names[] = {"?",      "public",   "broker", "device",
                                           "viewer", "operator", "admin"};

const char *http_access_name(http_access a)
{
    return a >= HTTP_ACCESS_UNSET && a <= HTTP_ADMIN ? access_names[a] : "?";
}

acct_role http_access_role(http_access a)
{
    switch (a) {
    case HTTP_VIEWER:
        return ACCT_VIEWER;
    case HTTP_OPERATOR:
        return ACCT_OPERATOR;
    case HTTP_ADMIN:
        return ACCT_ADMIN;
    default:
        return ACCT_ROLE_NONE;
    }
}

void http_client_addr(http_req *r, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    if (ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, out,
                  (socklen_t)outlen);
    else if (ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, out,
                  (socklen_t)outlen);
}

static int identify(http_req *r)
{
    http_caller *c = &r->caller;
    const char *h = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    char hash[ACCT_TOKEN_HEX + 1];
    store_token t;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    while (*h == ' ')
        h++;
    if (!*h || strlen(h) >= 512)
        return 0;
    if (r->app->admin_token && ota_ct_streq(h, r->app->admin_token)) {
        c->role = ACCT_ADMIN;
        snprintf(c->kind, sizeof c->kind, "admin");
        snprintf(c->actor, sizeof c->actor, "admin-token");
        return 1;
    }
    if (!r->app->store || acct_token_hash(h, hash) != 0)
        return 0;
    ota_err rc = store_token_auth(r->app->store, hash, ota_time_now_ms(), &t);
    if (rc != OTA_OK)
        return 0; /* OTA_EDB was logged by the store */
    c->role = t.role;
    c->user_id = t.user_id;
    c->token_id = t.id;
    c->expires_ms = t.expires_ms;
    snprintf(c->kind, sizeof c->kind, "%s", t.kind);
    snprintf(c->user, sizeof c->user, "%s", t.user_name);
    if (strcmp(t.kind, "session") == 0)
        snprintf(c->actor, sizeof c->actor, "%s", t.user_name);
    else
        snprintf(c->actor, sizeof c->actor, "%s/%s", t.user_id ? t.user_name : "admin-token",
                 t.name);
    return 1;
}

int http_identify(http_req *r)
{
    if (!r->identified) {
        r->identified = 1;
        memset(&r->caller, 0, sizeof r->caller);
        if (!identify(r))
            memset(&r->caller, 0, sizeof r->caller);
    }
    return r->caller.role != ACCT_ROLE_NONE;
}

int http_access_check(http_req *r)
{
    acct_role need = http_access_role(r->route->access);
    if (r->route->access == HTTP_ACCESS_UNSET) {
        /* test_http_routes keeps this from happening; refuse rather than serve */
        OTA_ERROR("http: %s %s declares no access", r->route->method, r->route->pattern);
        http_send_error(r, 500, "internal", NULL, "This route declares no access.");
        return -1;
    }
    if (need == ACCT_ROLE_NONE)
        return 0;
    if (!http_identify(r)) {
        http_send_error(r, 401, "unauthorized", NULL,
                        "A valid token is required (Authorization: Bearer <token>).");
        return -1;
    }
    if (r->caller.role < need) {
        http_send_error(r, 403, "forbidden", NULL, "This needs the role %s; %s has %s.",
                        acct_role_name(need), r->caller.actor, acct_role_name(r->caller.role));
        return -1;
    }
    return 0;
}
