/*
 * ddi_fixture: the DDI tests' shared helpers (ddi_fixture.h).
 */
#include "ddi_fixture.h"

#include "test_api_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bt_ctx *ddi_new(void **state, double time_scale, int poll_s)
{
    char scale[32], poll[16];
    bt_ctx *t = bt_alloc(state);
    snprintf(scale, sizeof scale, "%g", time_scale);
    snprintf(poll, sizeof poll, "%d", poll_s);
    oth_env_set(&t->env, "OTA_TIME_SCALE", scale);
    oth_env_set(&t->env, "OTA_DDI_POLL_SECONDS", poll);
    bt_start(t);
    return t;
}

long ddi_call(bt_ctx *t, const char *method, const char *id, const char *auth,
              const char *path_rest, const char *ctype, const char *body, oth_resp *r)
{
    char url[512], h[160];
    const char *headers[2] = {NULL, NULL};
    snprintf(url, sizeof url, "%s/%s/controller/v1/%s%s", t->env.base_url, t->pk, id,
             path_rest ? path_rest : "");
    if (auth) {
        snprintf(h, sizeof h, "Authorization: %s", auth);
        headers[0] = h;
    }
    memset(r, 0, sizeof *r);
    oth_http_url(method, url, NULL, ctype, body, body ? strlen(body) : 0, headers, r);
    return r->status;
}

void ddi_token(bt_ctx *t, const char *id, char *out, size_t cap)
{
    char secret[40];
    assert_int_equal(oth_device_secret(&t->env, t->pk, id, secret), 0);
    snprintf(out, cap, "TargetToken %s", secret);
}

void ddi_poll_link(bt_ctx *t, const char *id, const char *name, char *out, size_t cap)
{
    char tok[80];
    oth_resp r;
    ddi_token(t, id, tok, sizeof tok);
    long s = ddi_call(t, "GET", id, tok, NULL, NULL, NULL, &r);
    if (s != 200 || !r.json)
        fail_msg("poll of %s: %ld %s", id, s, r.body ? r.body : "");
    json_t *h = json_object_get(json_object_get(json_object_get(r.json, "_links"), name), "href");
    snprintf(out, cap, "%s", json_is_string(h) ? json_string_value(h) : "");
    oth_resp_free(&r);
}

int ddi_sql(bt_ctx *t, const char *q)
{
    tapi_ctx c;
    memcpy(&c.env, &t->env, sizeof c.env); /* read only: tapi_sql reads the folder and database */
    return tapi_sql(&c, q);
}

long long ddi_href_action(const char *href)
{
    const char *p = strstr(href, "/deploymentBase/");
    if (!p)
        p = strstr(href, "/cancelAction/");
    if (!p)
        return 0;
    p = strchr(p + 1, '/') + 1;
    return strtoll(p, NULL, 10);
}
