/*
 * libFuzzer target for what the router reads from a request line and its headers before
 * any handler runs (server/http/http.c and core/validate.c): the path against every
 * route's pattern (http__match), a Range header (http__parse_range), the paging query
 * parameters (valid_paging) and path ids (valid_id). Input: up to four lines, "path",
 * "Range value", "page", "pageSize"; a file size comes from the Range line's length.
 * Beyond the sanitizers: a satisfiable range lies inside the file, a match fills one
 * parameter per "{...}" of its pattern, and paging stays in its documented bounds.
 */
#include "core/validate.h"
#include "http/http_internal.h"
#include "http/http_routes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int cond)
{
    if (!cond)
        abort();
}

static const http_route *const tables[] = {
#define X(name) http_routes_##name,
    HTTP_ROUTE_FILES
#undef X
};

static int n_params_of(const char *pattern)
{
    int n = 0;
    for (const char *p = pattern; *p; p++)
        n += *p == '{';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[4096], *line[4] = {"", NULL, NULL, NULL};
    if (size >= sizeof buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    if (strlen(buf) != size)
        return 0; /* libmicrohttpd hands the router NUL-terminated strings */
    char *p = buf;
    for (int i = 0; i < 4 && p; i++) {
        line[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }

    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        for (const http_route *rt = tables[t]; rt->method; rt++) {
            http_req r;
            memset(&r, 0, sizeof r);
            int m = http__match(rt->pattern, line[0], &r);
            check(m == 0 || r.n_params == n_params_of(rt->pattern));
            for (int i = 0; i < r.n_params; i++) {
                check(r.param_value[i][0] != '\0');
                free((char *)r.param_name[i]);
                free(r.param_value[i]);
            }
            int64_t id;
            if (m && valid_id(line[0] + strcspn(line[0], "0123456789"), &id) == 0)
                check(id >= 1);
        }
    }

    uint64_t from = 0, to = 0, fsize = line[1] ? strlen(line[1]) * 977u : 0;
    int rg = http__parse_range(line[1], fsize, &from, &to);
    check(rg >= -1 && rg <= 1);
    if (rg == 1)
        check(from <= to && to < fsize);

    int page = 0, page_size = 0;
    const char *field = NULL;
    char why[128];
    if (valid_paging(line[2], line[3], &page, &page_size, &field, why, sizeof why) == 0)
        check(page >= 1 && page_size >= 1 && page_size <= VALID_PAGE_SIZE_MAX);
    else
        check(field != NULL && why[0] != '\0');
    return 0;
}
