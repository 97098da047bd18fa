/*
 * routes_console: serves the web console's static files from OTA_CONSOLE_DIR at "/"
 * ("/" is index.html). Only regular files under that folder: no "..", no hidden
 * segments, no symlinks out (O_NOFOLLOW on the last segment, realpath check). Paths under
 * /api/ never reach this table's catch-all (the router skips it for them).
 */
#include "http/http.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *mime_of(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json; charset=utf-8"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".map", "application/json; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot, types[i].ext) == 0)
                return types[i].type;
    return NULL;
}

/* 1 when every segment of rel is a plain name (no "", ".", "..", hidden, backslash). */
static int safe_rel(const char *rel)
{
    const char *p = rel;
    if (!*p || strlen(rel) > 512)
        return 0;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || p[0] == '.' || memchr(p, '\\', n))
            return 0;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20)
                return 0;
        p += n;
        if (*p == '/')
            p++;
    }
    return 1;
}

static int serve(http_req *r, const char *rel)
{
    char path[CFG_STR_MAX + 600], real_dir[PATH_MAX], real_file[PATH_MAX];
    const char *type = mime_of(rel);
    if (!safe_rel(rel) || !type)
        return http_send_error(r, 404, "not_found", NULL, "No such file.");
    snprintf(path, sizeof path, "%s/%s", r->app->console_dir, rel);
    if (!realpath(r->app->console_dir, real_dir) || !realpath(path, real_file) ||
        strncmp(real_file, real_dir, strlen(real_dir)) != 0 || real_file[strlen(real_dir)] != '/')
        return http_send_error(r, 404, "not_found", NULL, "No such file.");
    return http_send_file(r, real_file, type, NULL);
}

static int console_index(http_req *r)
{
    return serve(r, "index.html");
}

static int console_file(http_req *r)
{
    return serve(r, http_param(r, "path"));
}

const http_route http_routes_console[] = {
    {"GET", "/", console_index, HTTP_PUBLIC, HTTP_ALSO_HEAD, 0, NULL, NULL},
    {"GET", "/{path*}", console_file, HTTP_PUBLIC, HTTP_ALSO_HEAD | HTTP_NOT_API, 0, NULL, NULL},
    HTTP_ROUTES_END,
};
