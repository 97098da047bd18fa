/*
 * otactl: the management API from the command line, for scripts and operators. One
 * table of commands (group, verb, usage, handler); each handler turns its arguments into
 * one HTTP request with libcurl and prints the JSON answer (pretty) on stdout. An error
 * answer prints its message on stderr and exits 1; bad usage exits 2.
 *
 * Server and token: --url / OTA_URL (default http://127.0.0.1:8080), --token,
 * --token-file, OTA_ADMIN_TOKEN, the session `otactl login` saved (OTA_TOKEN_FILE, default
 * ~/.config/otactl/token, 0600), or ./data/keys/admin.token, in that order. Passwords are
 * read from stdin (without echo on a terminal) or a file, never from the command line. An https://
 * URL is checked against --cacert / OTA_CA (default ./data/keys/ca.pem when it exists, else the
 * system's CAs), peer and host name both verified; there is no fallback to plain. Files (firmware
 * upload, device import) are streamed from disk, never read whole into memory.
 *
 * Signed firmware (docs/security.md): `key create` makes an Ed25519 pair on this machine
 * (the private key never goes to the server), `firmware sign` signs a file's manifest
 * (common/ota_sign.h) with it offline, `firmware add --signature` uploads the signature,
 * `key add/list/retire` manage the product's public keys on the server.
 *
 * Webhooks (docs/webhooks.md): `webhook add/set/list/show/rm/deliveries/ping`; a secret is
 * read like a password (a file or stdin), never from the command line.
 */
#include "ota_crypto.h"
#include "ota_sign.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char url[512];
    char token[256];
    char cacert[512]; /* CA file for https:// URLs; "" = the system's */
    int quiet;
    int keep;       /* report() keeps a successful answer in answer instead of printing it */
    json_t *answer; /* owned by the caller once set */
} ctl;

typedef struct {
    char *buf;
    size_t len, cap;
    FILE *out; /* when set, the body goes there instead (downloads) */
} sink;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t len = size * n;
    if (s->out)
        return fwrite(p, 1, len, s->out);
    if (s->len + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        while (cap < s->len + len + 1)
            cap *= 2;
        if (cap > 64u * 1024 * 1024)
            return 0; /* a JSON answer this big is not an answer */
        char *nb = realloc(s->buf, cap);
        if (!nb)
            return 0;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, len);
    s->len += len;
    s->buf[s->len] = '\0';
    return len;
}

static size_t on_read_file(char *p, size_t size, size_t n, void *ud)
{
    return fread(p, size, n, (FILE *)ud);
}

/* Prints the answer: JSON pretty on stdout when ok, the error's message on stderr.
 * Returns the exit code. */
static int report(ctl *c, long status, sink *s)
{
    json_t *j = s->buf ? json_loads(s->buf, 0, NULL) : NULL;
    int rc = status >= 200 && status < 300 ? 0 : 1;
    if (rc == 0) {
        if (c->keep) {
            c->answer = j;
            j = NULL;
        } else if (j && !c->quiet) {
            char *out = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            if (out)
                puts(out);
            free(out);
        }
    } else {
        json_t *e = j ? json_object_get(j, "error") : NULL;
        const char *msg = e ? json_string_value(json_object_get(e, "message")) : NULL;
        const char *field = e ? json_string_value(json_object_get(e, "field")) : NULL;
        const char *code = e ? json_string_value(json_object_get(e, "code")) : NULL;
        json_t *line = e ? json_object_get(e, "line") : NULL;
        fprintf(stderr, "otactl: HTTP %ld%s%s%s%s: %s", status, code ? " " : "", code ? code : "",
                field ? " field=" : "", field ? field : "", msg ? msg : (s->buf ? s->buf : ""));
        if (json_is_integer(line))
            fprintf(stderr, " (line %lld)", (long long)json_integer_value(line));
        fputc('\n', stderr);
    }
    json_decref(j);
    free(s->buf);
    return rc;
}

/* One request. body: JSON text or NULL; mime: multipart or NULL; upload: streamed file
 * with its content type, or NULL. */
static int request(ctl *c, const char *method, const char *path, const char *body, curl_mime *mime,
                   FILE *upload, const char *upload_type, FILE *out)
{
    char url[2048], auth[320], ct[128];
    struct curl_slist *h = NULL;
    sink s = {0};
    long status = 0;
    CURL *k = curl_easy_init();
    if (!k)
        return 1;
    s.out = out;
    snprintf(url, sizeof url, "%s%s", c->url, path);
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->cacert[0])
        curl_easy_setopt(k, CURLOPT_CAINFO, c->cacert);
    if (c->token[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Expect:");
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, body);
    } else if (mime) {
        curl_easy_setopt(k, CURLOPT_MIMEPOST, mime);
    } else if (upload) {
        snprintf(ct, sizeof ct, "Content-Type: %s", upload_type);
        h = curl_slist_append(h, ct);
        curl_easy_setopt(k, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(k, CURLOPT_READFUNCTION, on_read_file);
        curl_easy_setopt(k, CURLOPT_READDATA, upload);
    }
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(k);
    curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(k);
    if (rc != CURLE_OK) {
        fprintf(stderr, "otactl: %s %s: %s\n", method, url, curl_easy_strerror(rc));
        free(s.buf);
        return 1;
    }
    if (out && status >= 200 && status < 300)
        return 0;
    return report(c, status, &s);
}

/* ---- arguments ------------------------------------------------------------------------ */

/* Finds "--name value" in argv (removing nothing); returns value or NULL. */
static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc - 1; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

/* Options that take no value. */
static int is_flag(const char *a)
{
    return strcmp(a, "--continuous") == 0 || strcmp(a, "--enable") == 0 ||
           strcmp(a, "--disable") == 0;
}

/* The i-th argument that is not an option or an option's value. */
static const char *pos(int argc, char **argv, int want)
{
    int k = 0;
    for (int i = 0; i < argc; i++) {
        if (is_flag(argv[i]))
            continue;
        if (strncmp(argv[i], "--", 2) == 0 && argv[i][2]) {
            i++; /* every other option of otactl's commands takes a value */
            continue;
        }
        if (k++ == want)
            return argv[i];
    }
    return NULL;
}

/* Appends ?a=b&c=d for the options present (values URL-escaped). */
static void query(char *out, size_t outlen, int argc, char **argv, const char *const *map)
{
    size_t o = strlen(out);
    char sep = '?';
    for (int i = 0; map[i]; i += 2) {
        const char *v = opt(argc, argv, map[i]);
        if (!v)
            continue;
        char *esc = curl_easy_escape(NULL, v, 0);
        o += (size_t)snprintf(out + o, o < outlen ? outlen - o : 0, "%c%s=%s", sep, map[i + 1],
                              esc ? esc : "");
        curl_free(esc);
        sep = '&';
    }
}

static const char *const paging[] = {"--page", "page", "--page-size", "pageSize", NULL};

static char *esc(const char *s)
{
    return curl_easy_escape(NULL, s, 0);
}

#define NEED(x, what)                                                                              \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "otactl: %s is required\n", what);                                     \
            return 2;                                                                              \
        }                                                                                          \
    } while (0)

/* ---- commands --------------------------------------------------------------------------- */

static int c_health(ctl *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return request(c, "GET", "/api/v1/health", NULL, NULL, NULL, NULL, NULL);
}

static int c_product_create(ctl *c, int argc, char **argv)
{
    const char *name = pos(argc, argv, 0), *desc = opt(argc, argv, "--description");
    NEED(name, "NAME");
    json_t *b = json_pack("{s:s}", "productName", name);
    if (desc)
        json_object_set_new(b, "description", json_string(desc));
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    int rc = request(c, "POST", "/api/v1/products", s, NULL, NULL, NULL, NULL);
    free(s);
    return rc;
}

/* GET base with the paging options. */
static int list_at(ctl *c, int argc, char **argv, const char *base)
{
    char path[512];
    snprintf(path, sizeof path, "%s", base);
    query(path, sizeof path, argc, argv, paging);
    return request(c, "GET", path, NULL, NULL, NULL, NULL, NULL);
}

/* method base/<first argument, escaped> with body (may be NULL); what names the argument. */
static int one_at(ctl *c, int argc, char **argv, const char *method, const char *base,
                  const char *what, const char *body)
{
    const char *arg = pos(argc, argv, 0);
    char path[512];
    NEED(arg, what);
    char *e = esc(arg);
    snprintf(path, sizeof path, "%s/%s", base, e);
    curl_free(e);
    return request(c, method, path, body, NULL, NULL, NULL, NULL);
}

static int c_product_list(ctl *c, int argc, char **argv)
{
    return list_at(c, argc, argv, "/api/v1/products");
}

static int c_product_get(ctl *c, int argc, char **argv)
{
    return one_at(c, argc, argv, "GET", "/api/v1/products", "PRODUCT_KEY", NULL);
}

/* POST body (taken) as JSON to /api/v1/products/PK/<sub>. */
static int product_post(ctl *c, const char *pk, const char *sub, json_t *body)
{
    char path[512];
    char *s = json_dumps(body, JSON_COMPACT), *k = esc(pk);
    json_decref(body);
    snprintf(path, sizeof path, "/api/v1/products/%s/%s", k, sub);
    curl_free(k);
    int rc = request(c, "POST", path, s, NULL, NULL, NULL, NULL);
    free(s);
    return rc;
}

/* GET /api/v1/products/PK/<sub> with PK the first positional argument and the query
 * parameters that map names (NULL: none) */
static int product_get(ctl *c, int argc, char **argv, const char *sub,
                       const char *const *map)
{
    const char *key = pos(argc, argv, 0);
    char path[1024];
    NEED(key, "PRODUCT_KEY");
    char *k = esc(key);
    snprintf(path, sizeof path, "/api/v1/products/%s/%s", k, sub);
    curl_free(k);
    if (map)
        query(path, sizeof path, argc, argv, map);
    return request(c, "GET", path, NULL, NULL, NULL, NULL, NULL);
}

static int c_device_create(ctl *c, int argc, char **argv)
{
    const char *key = pos(argc, argv, 0), *id = pos(argc, argv, 1), *name = pos(argc, argv, 2);
    NEED(key && id, "PRODUCT_KEY IDENTIFIER");
    return product_post(c, key, "devices",
                        json_pack("{s:s, s:s}", "identifier", id, "deviceName", name ? name : id));
}

static int c_device_list(ctl *c, int argc, char **argv)
{
    static const char *const map[] = {"--online", "online", "--page", "page", "--page-size",
                                      "pageSize", "--tag", "tag", "--group", "group",
                                      "--from-version", "fromVersions", NULL};
    return product_get(c, argc, argv, "devices", map);
}

/* method on /api/v1/products/PK/<sub>/ID with PK and ID the two positional arguments (what
 * names them in the usage error). */
static int product_item(ctl *c, int argc, char **argv, const char *method, const char *sub,
                        const char *what)
{
    const char *key = pos(argc, argv, 0), *id = pos(argc, argv, 1);
    char path[1024];
    NEED(key && id, what);
    char *k = esc(key), *i = esc(id);
    snprintf(path, sizeof path, "/api/v1/products/%s/%s/%s", k, sub, i);
    curl_free(k);
    curl_free(i);
    return request(c, method, path, NULL, NULL, NULL, NULL, NULL);
}

static int c_device_get(ctl *c, int argc, char **argv)
{
    return product_item(c, argc, argv, "GET", "devices", "PRODUCT_KEY IDENTIFIER");
}

/* "/api/v1/products/PK/devices/ID/certificates" into path; 2 (usage) when missing. */
static int certs_path(int argc, char **argv, char *path, size_t cap)
{
    const char *key = pos(argc, argv, 0), *id = pos(argc, argv, 1);
    NEED(key && id, "PRODUCT_KEY IDENTIFIER");
    char *k = esc(key), *i = esc(id);
    snprintf(path, cap, "/api/v1/products/%s/devices/%s/certificates", k, i);
    curl_free(k);
    curl_free(i);
    return 0;
}

/* Writes text to path with mode (created new or truncated). Returns 0, or 1 (printed). */
/* Writes text to path with mode; how: O_TRUNC (replace) or O_EXCL (a new file only).
 * 0, or 1 after saying why. */
static int write_file(const char *path, const char *text, int mode, int how)
{
    FILE *f = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | how | O_CLOEXEC, mode);
    if (fd >= 0 && fchmod(fd, (mode_t)mode) == 0)
        f = fdopen(fd, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "otactl: %s: %s\n", path, strerror(errno));
        if (!f && fd >= 0)
            close(fd);
        return 1;
    }
    return 0;
}

static int write_text(const char *path, const char *text, int mode)
{
    return write_file(path, text, mode, O_TRUNC);
}

/* device cert PK ID [--out PREFIX]: PREFIX.crt (0644) and PREFIX.key (0600), PREFIX
 * defaulting to PK.ID; prints the certificate's serial, CN and end (not the key). */
static int c_device_cert(ctl *c, int argc, char **argv)
{
    char path[1024], base[512], crt[520], keyf[520];
    const char *prefix = opt(argc, argv, "--out");
    int rc = certs_path(argc, argv, path, sizeof path);
    if (rc)
        return rc;
    if (prefix)
        snprintf(base, sizeof base, "%s", prefix);
    else
        snprintf(base, sizeof base, "%.200s.%.200s", pos(argc, argv, 0), pos(argc, argv, 1));
    snprintf(crt, sizeof crt, "%s.crt", base);
    snprintf(keyf, sizeof keyf, "%s.key", base);
    FILE *tmp = tmpfile();
    if (!tmp)
        return 1;
    rc = request(c, "POST", path, NULL, NULL, NULL, NULL, tmp);
    if (rc == 0) {
        rewind(tmp);
        json_t *j = json_loadf(tmp, 0, NULL);
        const char *cert = json_string_value(json_object_get(j, "certificate"));
        const char *key = json_string_value(json_object_get(j, "privateKey"));
        if (!cert || !key) {
            fprintf(stderr, "otactl: the answer carries no certificate\n");
            rc = 1;
        } else if ((rc = write_text(keyf, key, 0600)) == 0 &&
                   (rc = write_text(crt, cert, 0644)) == 0) {
            json_object_del(j, "privateKey");
            json_object_del(j, "certificate");
            json_object_set_new(j, "certificateFile", json_string(crt));
            json_object_set_new(j, "keyFile", json_string(keyf));
            if (!c->quiet) {
                char *out = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                if (out)
                    puts(out);
                free(out);
            }
        }
        json_decref(j);
    }
    fclose(tmp);
    return rc;
}

static int c_device_certs(ctl *c, int argc, char **argv)
{
    char path[1024];
    int rc = certs_path(argc, argv, path, sizeof path);
    return rc ? rc : request(c, "GET", path, NULL, NULL, NULL, NULL, NULL);
}

static int c_device_revoke(ctl *c, int argc, char **argv)
{
    char path[1024];
    int rc = certs_path(argc, argv, path, sizeof path);
    return rc ? rc : request(c, "DELETE", path, NULL, NULL, NULL, NULL, NULL);
}

static int c_device_import(ctl *c, int argc, char **argv)
{
    const char *key = pos(argc, argv, 0), *file = pos(argc, argv, 1);
    char path[1024];
    NEED(key && file, "PRODUCT_KEY FILE");
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (!f) {
        fprintf(stderr, "otactl: %s: %s\n", file, strerror(errno));
        return 1;
    }
    char *k = esc(key);
    snprintf(path, sizeof path, "/api/v1/products/%s/devices:import", k);
    curl_free(k);
    int rc = request(c, "POST", path, NULL, NULL, f, "application/x-ndjson", NULL);
    if (f != stdin)
        fclose(f);
    return rc;
}

static int c_firmware_add(ctl *c, int argc, char **argv)
{
    const char *file = pos(argc, argv, 0);
    const char *name = opt(argc, argv, "--name"), *key = opt(argc, argv, "--product");
    const char *ver = opt(argc, argv, "--version"), *desc = opt(argc, argv, "--description");
    const char *as = opt(argc, argv, "--file-name"), *sig = opt(argc, argv, "--signature");
    char sigbuf[OTA_SIGN_SIG_B64_LEN + 8];
    NEED(file, "FILE");
    NEED(name && key && ver, "--name, --product and --version");
    if (sig && sig[0] == '@') { /* @FILE: the .sig firmware sign wrote */
        FILE *sf = fopen(sig + 1, "r");
        if (!sf || !fgets(sigbuf, sizeof sigbuf, sf)) {
            fprintf(stderr, "otactl: cannot read %s\n", sig + 1);
            if (sf)
                fclose(sf);
            return 1;
        }
        fclose(sf);
        sigbuf[strcspn(sigbuf, "\r\n")] = '\0';
        sig = sigbuf;
    }
    CURL *tmp = curl_easy_init();
    curl_mime *m = curl_mime_init(tmp);
    struct {
        const char *n, *v;
    } f[] = {{"firmwareName", name},
             {"productKey", key},
             {"firmwareVersion", ver},
             {"firmwareDescription", desc},
             {"signature", sig}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v) {
            curl_mimepart *p = curl_mime_addpart(m);
            curl_mime_name(p, f[i].n);
            curl_mime_data(p, f[i].v, CURL_ZERO_TERMINATED);
        }
    curl_mimepart *p = curl_mime_addpart(m);
    curl_mime_name(p, "file");
    if (curl_mime_filedata(p, file) != CURLE_OK) { /* streamed from disk by libcurl */
        fprintf(stderr, "otactl: cannot read %s\n", file);
        curl_mime_free(m);
        curl_easy_cleanup(tmp);
        return 1;
    }
    if (as)
        curl_mime_filename(p, as);
    curl_mime_type(p, "application/octet-stream");
    int rc = request(c, "POST", "/api/v1/firmwares", NULL, m, NULL, NULL, NULL);
    curl_mime_free(m);
    curl_easy_cleanup(tmp);
    return rc;
}

static int c_firmware_list(ctl *c, int argc, char **argv)
{
    static const char *const map[] = {"--product",   "productKey", "--page", "page",
                                      "--page-size", "pageSize",   NULL};
    char path[1024] = "/api/v1/firmwares";
    query(path, sizeof path, argc, argv, map);
    return request(c, "GET", path, NULL, NULL, NULL, NULL, NULL);
}

static int fw_path(int argc, char **argv, const char *suffix, char *path, size_t len)
{
    const char *id = pos(argc, argv, 0);
    if (!id) {
        fprintf(stderr, "otactl: FIRMWARE_ID is required\n");
        return -1;
    }
    char *e = esc(id);
    snprintf(path, len, "/api/v1/firmwares/%s%s", e, suffix);
    curl_free(e);
    return 0;
}

static int c_firmware_get(ctl *c, int argc, char **argv)
{
    char path[512];
    if (fw_path(argc, argv, "", path, sizeof path) != 0)
        return 2;
    return request(c, "GET", path, NULL, NULL, NULL, NULL, NULL);
}

static int c_firmware_delete(ctl *c, int argc, char **argv)
{
    char path[512];
    if (fw_path(argc, argv, "", path, sizeof path) != 0)
        return 2;
    int rc = request(c, "DELETE", path, NULL, NULL, NULL, NULL, NULL);
    if (rc == 0 && !c->quiet)
        puts("deleted");
    return rc;
}

static int c_firmware_download(ctl *c, int argc, char **argv)
{
    char path[512];
    const char *out = opt(argc, argv, "-o") ? opt(argc, argv, "-o") : opt(argc, argv, "--output");
    if (fw_path(argc, argv, "/file", path, sizeof path) != 0)
        return 2;
    NEED(out, "-o FILE");
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.part", out);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "otactl: %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    int rc = request(c, "GET", path, NULL, NULL, NULL, NULL, f);
    if (fclose(f) != 0)
        rc = 1;
    if (rc == 0 && rename(tmp, out) != 0) {
        fprintf(stderr, "otactl: %s: %s\n", out, strerror(errno));
        rc = 1;
    }
    if (rc != 0)
        remove(tmp);
    return rc;
}

static int c_firmware_eligible(ctl *c, int argc, char **argv)
{
    static const char *const map[] = {"--q",         "q",        "--page", "page",
                                      "--page-size", "pageSize", NULL};
    char path[1024];
    if (fw_path(argc, argv, "/eligible-devices", path, sizeof path) != 0)
        return 2;
    query(path, sizeof path, argc, argv, map);
    return request(c, "GET", path, NULL, NULL, NULL, NULL, NULL);
}

/* ---- batches ---------------------------------------------------------------------------- */

/* Parses a whole number option into *out (kept when absent). Returns 0, or -1 (said). */
static int num_opt(int argc, char **argv, const char *name, long min, long max, long *out)
{
    const char *v = opt(argc, argv, name);
    char *end;
    if (!v)
        return 0;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < min || n > max) {
        fprintf(stderr, "otactl: %s takes a whole number from %ld to %ld\n", name, min, max);
        return -1;
    }
    *out = n;
    return 0;
}

/* ---- targeting: tags, groups, filters ------------------------------------------------------ */

/* Every value of a repeatable option, appended as strings to arr (split at commas when
 * split). */
static void opt_all(int argc, char **argv, const char *name, int split, json_t *arr)
{
    for (int i = 0; i < argc - 1; i++) {
        if (strcmp(argv[i], name) != 0)
            continue;
        const char *p = argv[++i];
        while (*p) {
            size_t n = split ? strcspn(p, ",") : strlen(p);
            char *v = strndup(p, n);
            if (v && *v)
                json_array_append_new(arr, json_string(v));
            free(v);
            p += n;
            if (*p == ',')
                p++;
        }
    }
}

/* "k=v" into obj; -1 (said on stderr) when there is no '='. */
static int put_kv(json_t *obj, const char *kv, const char *what)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        fprintf(stderr, "otactl: %s: want KEY=VALUE, got '%s'\n", what, kv);
        return -1;
    }
    char *k = strndup(kv, (size_t)(eq - kv));
    json_object_set_new(obj, k, json_string(eq + 1));
    free(k);
    return 0;
}

/* --filter tag=K=V|group=G (repeatable), --group G, --from-version V (repeatable, or
 * comma lists), --continuous into a create-batch body b; scope filter when a tag or group
 * is given. 0, or -1 (said on stderr). */
static int batch_target(int argc, char **argv, json_t *b)
{
    json_t *filters = json_array(), *tags = json_object(), *groups = json_array(),
           *vers = json_array();
    int rc = 0;
    size_t i;
    json_t *v;
    opt_all(argc, argv, "--filter", 0, filters);
    opt_all(argc, argv, "--group", 1, groups);
    opt_all(argc, argv, "--from-version", 1, vers);
    json_array_foreach(filters, i, v)
    {
        const char *f = json_string_value(v);
        if (strncmp(f, "tag=", 4) == 0)
            rc |= put_kv(tags, f + 4, "--filter tag=");
        else if (strncmp(f, "group=", 6) == 0)
            json_array_append_new(groups, json_string(f + 6));
        else {
            fprintf(stderr, "otactl: --filter takes tag=KEY=VALUE or group=NAME, got '%s'\n", f);
            rc = -1;
        }
    }
    if (json_object_size(tags) || json_array_size(groups)) {
        json_t *flt = json_object();
        if (json_object_size(tags))
            json_object_set(flt, "tags", tags);
        if (json_array_size(groups))
            json_object_set(flt, "groups", groups);
        json_object_set_new(b, "scope", json_string("filter"));
        json_object_set_new(b, "filter", flt);
    }
    if (json_array_size(vers))
        json_object_set(b, "fromVersions", vers);
    for (int k = 0; k < argc; k++)
        if (strcmp(argv[k], "--continuous") == 0)
            json_object_set_new(b, "continuous", json_true());
    json_decref(filters);
    json_decref(tags);
    json_decref(groups);
    json_decref(vers);
    return rc ? -1 : 0;
}

/* The positional arguments from first on into a JSON array (split at commas when split). */
static json_t *pos_list(int argc, char **argv, int first, int split)
{
    json_t *arr = json_array();
    for (int i = first; pos(argc, argv, i); i++) {
        const char *p = pos(argc, argv, i);
        while (*p) {
            size_t n = split ? strcspn(p, ",") : strlen(p);
            char *v = strndup(p, n);
            if (v && *v)
                json_array_append_new(arr, json_string(v));
            free(v);
            p += n;
            if (*p == ',')
                p++;
        }
    }
    return arr;
}

/* device tag PK ID[,ID...] K=V... (add or change) / device untag PK ID[,ID...] KEY... */
static int tag_change(ctl *c, int argc, char **argv, int set)
{
    const char *key = pos(argc, argv, 0), *ids = pos(argc, argv, 1);
    NEED(key && ids && pos(argc, argv, 2), set ? "PRODUCT_KEY IDENTIFIER KEY=VALUE"
                                               : "PRODUCT_KEY IDENTIFIER KEY");
    json_t *idents = json_array(), *items = pos_list(argc, argv, 2, 0), *body = json_object();
    json_t *v;
    size_t i;
    int rc = 0;
    /* the identifiers: the second argument, split at commas */
    for (const char *p = ids; *p;) {
        size_t n = strcspn(p, ",");
        char *id = strndup(p, n);
        if (id && *id)
            json_array_append_new(idents, json_string(id));
        free(id);
        p += n;
        if (*p == ',')
            p++;
    }
    json_object_set_new(body, "identifiers", idents);
    if (set) {
        json_t *tags = json_object();
        json_array_foreach(items, i, v) rc |= put_kv(tags, json_string_value(v), "tag");
        json_object_set_new(body, "set", tags);
    } else {
        json_object_set(body, "remove", items);
    }
    json_decref(items);
    if (rc) {
        json_decref(body);
        return 2;
    }
    return product_post(c, key, "devices:tag", body);
}

static int c_device_tag(ctl *c, int argc, char **argv)
{
    return tag_change(c, argc, argv, 1);
}

static int c_device_untag(ctl *c, int argc, char **argv)
{
    return tag_change(c, argc, argv, 0);
}

/* device set-tags PK ID [K=V...]: replaces the set (none: clears it) */
static int c_device_set_tags(ctl *c, int argc, char **argv)
{
    const char *key = pos(argc, argv, 0), *id = pos(argc, argv, 1);
    NEED(key && id, "PRODUCT_KEY IDENTIFIER");
    json_t *items = pos_list(argc, argv, 2, 0), *tags = json_object(), *v;
    size_t i;
    int rc = 0;
    json_array_foreach(items, i, v) rc |= put_kv(tags, json_string_value(v), "tag");
    json_decref(items);
    json_t *body = json_pack("{s:o}", "tags", tags);
    char *text = json_dumps(body, JSON_COMPACT), path[1024];
    json_decref(body);
    char *k = esc(key), *d = esc(id);
    snprintf(path, sizeof path, "/api/v1/products/%s/devices/%s/tags", k, d);
    curl_free(k);
    curl_free(d);
    if (!rc)
        rc = request(c, "PUT", path, text, NULL, NULL, NULL, NULL);
    else
        rc = 2;
    free(text);
    return rc;
}

static const char *const target_query[] = {"--tag", "tag", "--group", "group", "--from-version",
                                           "fromVersions", "--firmware", "firmwareId", NULL};

/* device count PK [--tag K=V,...] [--group G,...] [--from-version V,...] [--firmware ID] */
static int c_device_count(ctl *c, int argc, char **argv)
{
    return product_get(c, argc, argv, "devices:count", target_query);
}

static int c_group_create(ctl *c, int argc, char **argv)
{
    const char *key = pos(argc, argv, 0), *name = pos(argc, argv, 1);
    NEED(key && name, "PRODUCT_KEY NAME");
    return product_post(c, key, "groups", json_pack("{s:s}", "name", name));
}

static int c_group_list(ctl *c, int argc, char **argv)
{
    return product_get(c, argc, argv, "groups", paging);
}

static int c_group_delete(ctl *c, int argc, char **argv)
{
    return product_item(c, argc, argv, "DELETE", "groups", "PRODUCT_KEY NAME");
}

/* group add|remove PK NAME ID[,ID...] [ID...] */
static int group_members(ctl *c, int argc, char **argv, const char *suffix)
{
    const char *key = pos(argc, argv, 0), *name = pos(argc, argv, 1);
    NEED(key && name && pos(argc, argv, 2), "PRODUCT_KEY NAME IDENTIFIER");
    char sub[256];
    char *n = esc(name);
    snprintf(sub, sizeof sub, "groups/%s/members%s", n, suffix);
    curl_free(n);
    return product_post(c, key, sub,
                        json_pack("{s:o}", "identifiers", pos_list(argc, argv, 2, 1)));
}

static int c_group_add(ctl *c, int argc, char **argv)
{
    return group_members(c, argc, argv, "");
}

static int c_group_remove(ctl *c, int argc, char **argv)
{
    return group_members(c, argc, argv, ":remove");
}

static int c_group_members(ctl *c, int argc, char **argv)
{
    const char *key = pos(argc, argv, 0), *name = pos(argc, argv, 1);
    char path[1024];
    NEED(key && name, "PRODUCT_KEY NAME");
    char *k = esc(key), *n = esc(name);
    snprintf(path, sizeof path, "/api/v1/products/%s/groups/%s/members", k, n);
    curl_free(k);
    curl_free(n);
    query(path, sizeof path, argc, argv, paging);
    return request(c, "GET", path, NULL, NULL, NULL, NULL, NULL);
}

static int c_batch_create(ctl *c, int argc, char **argv)
{
    long validity = 1, timeout = 30, retries = 0, interval = 0, rate = 0;
    const char *policy = opt(argc, argv, "--policy"), *devices = opt(argc, argv, "--devices");
    char path[512];
    if (fw_path(argc, argv, "/batches", path, sizeof path) != 0)
        return 2;
    if (num_opt(argc, argv, "--validity", 1, 7, &validity) ||
        num_opt(argc, argv, "--timeout", 1, 1440, &timeout) ||
        num_opt(argc, argv, "--retries", 0, 5, &retries) ||
        num_opt(argc, argv, "--retry-interval", 1, 4320, &interval) ||
        num_opt(argc, argv, "--rate", 1, 1000000, &rate))
        return 2;
    json_t *b = json_pack("{s:s, s:i, s:s, s:i, s:i}", "scope", devices ? "directed" : "all",
                          "validityDays", (int)validity, "policy", policy ? policy : "standard",
                          "timeoutMinutes", (int)timeout, "retryTimes", (int)retries);
    if (interval)
        json_object_set_new(b, "retryIntervalMinutes", json_integer(interval));
    if (rate)
        json_object_set_new(b, "maxPushPerMinute", json_integer(rate));
    if (batch_target(argc, argv, b) != 0) {
        json_decref(b);
        return 2;
    }
    const char *ro = opt(argc, argv, "--rollout");
    if (ro) {
        /* JSON text, or @FILE holding it; the server checks it (docs/api.md) */
        json_error_t jerr;
        json_t *v = ro[0] == '@' ? json_load_file(ro + 1, 0, &jerr) : json_loads(ro, 0, &jerr);
        if (!v) {
            fprintf(stderr, "otactl: --rollout: %s\n", jerr.text);
            json_decref(b);
            return 2;
        }
        json_object_set_new(b, "rollout", v);
    }
    if (devices) {
        /* comma-separated identifiers, or @FILE with one identifier a line */
        json_t *ids = json_array();
        char line[256];
        if (devices[0] == '@') {
            FILE *f = strcmp(devices + 1, "-") == 0 ? stdin : fopen(devices + 1, "r");
            if (!f) {
                fprintf(stderr, "otactl: %s: %s\n", devices + 1, strerror(errno));
                json_decref(ids);
                json_decref(b);
                return 1;
            }
            while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\r\n")] = '\0';
                if (line[0])
                    json_array_append_new(ids, json_string(line));
            }
            if (f != stdin)
                fclose(f);
        } else {
            const char *p = devices;
            while (*p) {
                size_t n = strcspn(p, ",");
                if (n > 0 && n < sizeof line) {
                    memcpy(line, p, n);
                    line[n] = '\0';
                    json_array_append_new(ids, json_string(line));
                }
                p += n;
                if (*p == ',')
                    p++;
            }
        }
        json_object_set_new(b, "identifiers", ids);
    }
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    int rc = request(c, "POST", path, body, NULL, NULL, NULL, NULL);
    free(body);
    return rc;
}

static int c_batch_list(ctl *c, int argc, char **argv)
{
    static const char *const map[] = {"--firmware",  "firmwareId", "--product", "productKey",
                                      "--state",     "state",      "--page",    "page",
                                      "--page-size", "pageSize",   NULL};
    char path[1024] = "/api/v1/batches";
    query(path, sizeof path, argc, argv, map);
    return request(c, "GET", path, NULL, NULL, NULL, NULL, NULL);
}

static int batch_path(int argc, char **argv, const char *suffix, char *path, size_t len)
{
    const char *id = pos(argc, argv, 0);
    if (!id) {
        fprintf(stderr, "otactl: BATCH_ID is required\n");
        return -1;
    }
    char *e = esc(id);
    snprintf(path, len, "/api/v1/batches/%s%s", e, suffix);
    curl_free(e);
    return 0;
}

static int c_batch_get(ctl *c, int argc, char **argv)
{
    char path[512];
    if (batch_path(argc, argv, "", path, sizeof path) != 0)
        return 2;
    return request(c, "GET", path, NULL, NULL, NULL, NULL, NULL);
}

static int c_batch_devices(ctl *c, int argc, char **argv)
{
    static const char *const map[] = {"--state",     "upgradeState", "--page", "page",
                                      "--page-size", "pageSize",     NULL};
    char path[1024];
    if (batch_path(argc, argv, "/devices", path, sizeof path) != 0)
        return 2;
    query(path, sizeof path, argc, argv, map);
    return request(c, "GET", path, NULL, NULL, NULL, NULL, NULL);
}

static int c_batch_terminate(ctl *c, int argc, char **argv)
{
    char path[512];
    if (batch_path(argc, argv, "/terminate", path, sizeof path) != 0)
        return 2;
    return request(c, "POST", path, "{}", NULL, NULL, NULL, NULL);
}

static int c_batch_pause(ctl *c, int argc, char **argv)
{
    char path[512];
    if (batch_path(argc, argv, "/pause", path, sizeof path) != 0)
        return 2;
    return request(c, "POST", path, "{}", NULL, NULL, NULL, NULL);
}

static int c_batch_resume(ctl *c, int argc, char **argv)
{
    char path[512];
    if (batch_path(argc, argv, "/resume", path, sizeof path) != 0)
        return 2;
    return request(c, "POST", path, "{}", NULL, NULL, NULL, NULL);
}

/* Polls the batch until it has ended (or --timeout seconds passed): one line per change of
 * its counts on stderr, the final batch as JSON on stdout. Exit 0 when completed, 1 when
 * terminated or on error, 3 on timeout. */
static int c_batch_wait(ctl *c, int argc, char **argv)
{
    char path[512], last[256] = "";
    long timeout = 0;
    if (batch_path(argc, argv, "", path, sizeof path) != 0 ||
        num_opt(argc, argv, "--timeout", 1, 30L * 86400, &timeout))
        return 2;
    time_t deadline = timeout ? time(NULL) + timeout : 0;
    for (;;) {
        FILE *t = tmpfile();
        if (!t)
            return 1;
        int rc = request(c, "GET", path, NULL, NULL, NULL, NULL, t);
        if (rc != 0) {
            fclose(t);
            return rc;
        }
        rewind(t);
        json_t *j = json_loadf(t, 0, NULL);
        fclose(t);
        const char *state = j ? json_string_value(json_object_get(j, "state")) : NULL;
        if (!state) {
            json_decref(j);
            fprintf(stderr, "otactl: unexpected answer\n");
            return 1;
        }
        char now[256];
        json_t *counts = json_object_get(j, "counts");
        char *cs = counts ? json_dumps(counts, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        snprintf(now, sizeof now, "%s %s", state, cs ? cs : "");
        free(cs);
        if (strcmp(now, last) != 0 && !c->quiet)
            fprintf(stderr, "%s\n", now);
        snprintf(last, sizeof last, "%s", now);
        if (strcmp(state, "in_progress") != 0) {
            if (!c->quiet) {
                char *out = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                if (out)
                    puts(out);
                free(out);
            }
            rc = strcmp(state, "completed") == 0 ? 0 : 1;
            json_decref(j);
            return rc;
        }
        json_decref(j);
        if (deadline && time(NULL) >= deadline) {
            fprintf(stderr, "otactl: the batch is still in progress after %ld s\n", timeout);
            return 3;
        }
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
}

/* ---- accounts ----------------------------------------------------------------------- */

/* Where `otactl login` keeps the session token: OTA_TOKEN_FILE or ~/.config/otactl/token. */
static int session_file(char *out, size_t outlen)
{
    const char *f = getenv("OTA_TOKEN_FILE"), *home = getenv("HOME");
    if (f && *f)
        return snprintf(out, outlen, "%s", f) < (int)outlen ? 0 : -1;
    if (!home || !*home)
        return -1;
    return snprintf(out, outlen, "%s/.config/otactl/token", home) < (int)outlen ? 0 : -1;
}

/* A password from path ("-" = stdin; a terminal gets a prompt and no echo), first line,
 * into out. 0, or -1 (said on stderr). */
static int read_password(const char *path, const char *prompt, char *out, size_t outlen)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    struct termios old, quiet;
    int tty = f == stdin && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (!f) {
        fprintf(stderr, "otactl: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (tty) {
        fprintf(stderr, "%s", prompt);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *got = fgets(out, (int)outlen, f);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (f != stdin)
        fclose(f);
    if (!got) {
        fprintf(stderr, "otactl: no password given\n");
        return -1;
    }
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

/* One request whose JSON answer is returned (NULL after printing the error). */
static json_t *request_json(ctl *c, const char *method, const char *path, const char *body)
{
    c->keep = 1;
    c->answer = NULL;
    request(c, method, path, body, NULL, NULL, NULL, NULL);
    c->keep = 0;
    return c->answer;
}

static int c_login(ctl *c, int argc, char **argv)
{
    const char *user = pos(argc, argv, 0), *pwf = opt(argc, argv, "--password-file");
    char pw[512], file[1024], dir[1024];
    NEED(user, "USER");
    if (read_password(pwf ? pwf : "-", "Password: ", pw, sizeof pw) != 0)
        return 1;
    json_t *b = json_pack("{s:s, s:s}", "userName", user, "password", pw);
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    memset(pw, 0, sizeof pw);
    c->token[0] = '\0';
    json_t *j = request_json(c, "POST", "/api/v1/auth/login", s);
    free(s);
    if (!j)
        return 1;
    const char *tok = json_string_value(json_object_get(j, "token"));
    int rc = 1;
    if (tok && session_file(file, sizeof file) == 0) {
        /* the folder of the default place, then the file 0600 through a temp + rename */
        char *slash = strrchr(file, '/');
        if (slash && !getenv("OTA_TOKEN_FILE")) {
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - file), file);
            char *mid = strrchr(dir, '/');
            if (mid) {
                *mid = '\0';
                mkdir(dir, 0700);
                *mid = '/';
            }
            mkdir(dir, 0700);
        }
        if (write_text(file, tok, 0600) == 0) {
            fprintf(stderr, "otactl: signed in as %s until %s; token kept in %s\n", user,
                    json_string_value(json_object_get(j, "expiresAt")), file);
            rc = 0;
        }
    }
    json_decref(j);
    return rc;
}

static int c_logout(ctl *c, int argc, char **argv)
{
    char file[1024];
    (void)argc;
    (void)argv;
    int rc = request(c, "POST", "/api/v1/auth/logout", NULL, NULL, NULL, NULL, NULL);
    if (rc == 0 && session_file(file, sizeof file) == 0)
        unlink(file);
    return rc;
}

static int c_user_add(ctl *c, int argc, char **argv)
{
    const char *name = pos(argc, argv, 0), *role = opt(argc, argv, "--role"),
               *pwf = opt(argc, argv, "--password-file");
    char pw[512];
    NEED(name && role, "NAME --role ROLE");
    json_t *b = json_pack("{s:s, s:s}", "userName", name, "role", role);
    if (!pwf || strcmp(pwf, "none") != 0) {
        if (read_password(pwf ? pwf : "-", "New password: ", pw, sizeof pw) != 0) {
            json_decref(b);
            return 1;
        }
        json_object_set_new(b, "password", json_string(pw));
        memset(pw, 0, sizeof pw);
    }
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    int rc = request(c, "POST", "/api/v1/users", s, NULL, NULL, NULL, NULL);
    free(s);
    return rc;
}

static int c_user_list(ctl *c, int argc, char **argv)
{
    return list_at(c, argc, argv, "/api/v1/users");
}

static int c_user_disable(ctl *c, int argc, char **argv)
{
    return one_at(c, argc, argv, "PATCH", "/api/v1/users", "NAME", "{\"disabled\":true}");
}

static int c_user_enable(ctl *c, int argc, char **argv)
{
    return one_at(c, argc, argv, "PATCH", "/api/v1/users", "NAME", "{\"disabled\":false}");
}

static int c_token_create(ctl *c, int argc, char **argv)
{
    const char *name = pos(argc, argv, 0), *role = opt(argc, argv, "--role"),
               *user = opt(argc, argv, "--user"), *exp = opt(argc, argv, "--expires");
    long days = 0;
    char when[40];
    NEED(name && role, "NAME --role ROLE");
    if (num_opt(argc, argv, "--days", 1, 3650, &days) != 0)
        return 2;
    json_t *b = json_pack("{s:s, s:s}", "name", name, "role", role);
    if (user)
        json_object_set_new(b, "userName", json_string(user));
    if (days > 0) {
        time_t t = time(NULL) + days * 86400;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        exp = when;
    }
    if (exp)
        json_object_set_new(b, "expiresAt", json_string(exp));
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    int rc = request(c, "POST", "/api/v1/tokens", s, NULL, NULL, NULL, NULL);
    free(s);
    return rc;
}

static int c_token_list(ctl *c, int argc, char **argv)
{
    return list_at(c, argc, argv, "/api/v1/tokens");
}

static int c_token_revoke(ctl *c, int argc, char **argv)
{
    return one_at(c, argc, argv, "DELETE", "/api/v1/tokens", "TOKEN_ID", NULL);
}

/* ---- webhooks (docs/webhooks.md) ---------------------------------------------------------- */

/* Adds to body b the options a webhook takes: --events a,b (a JSON array of names),
 * --group-max N, --group-seconds N, --enable / --disable, and the secret read from
 * --secret-file (first line; "-" = stdin, without echo on a terminal). 0, or 2 / 1 said. */
static int webhook_opts(int argc, char **argv, json_t *b)
{
    const char *events = opt(argc, argv, "--events"), *secret = opt(argc, argv, "--secret-file");
    long gmax = 0, gsec = -1;
    if (num_opt(argc, argv, "--group-max", 1, 1000, &gmax) != 0 ||
        num_opt(argc, argv, "--group-seconds", 0, 3600, &gsec) != 0)
        return 2;
    if (events) {
        json_t *arr = json_array();
        for (const char *p = events; *p;) {
            size_t n = strcspn(p, ",");
            if (n)
                json_array_append_new(arr, json_stringn(p, n));
            p += n + (p[n] == ',');
        }
        json_object_set_new(b, "events", arr);
    }
    if (gmax > 0)
        json_object_set_new(b, "groupMaxEvents", json_integer(gmax));
    if (gsec >= 0)
        json_object_set_new(b, "groupSeconds", json_integer(gsec));
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--enable") == 0 || strcmp(argv[i], "--disable") == 0)
            json_object_set_new(b, "enabled", json_boolean(argv[i][2] == 'e'));
    if (secret) {
        char sec[300];
        if (read_password(secret, "Webhook secret: ", sec, sizeof sec) != 0)
            return 1;
        json_object_set_new(b, "secret", json_string(sec));
        OPENSSL_cleanse(sec, sizeof sec);
    }
    return 0;
}

/* method path with body b (taken). */
static int send_json(ctl *c, const char *method, const char *path, json_t *b)
{
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    int rc = request(c, method, path, s, NULL, NULL, NULL, NULL);
    if (s)
        OPENSSL_cleanse(s, strlen(s)); /* it may hold the secret */
    free(s);
    return rc;
}

static int c_webhook_add(ctl *c, int argc, char **argv)
{
    const char *url = pos(argc, argv, 0);
    NEED(url && opt(argc, argv, "--events") && opt(argc, argv, "--secret-file"),
         "URL --events E,E --secret-file FILE");
    json_t *b = json_pack("{s:s}", "url", url);
    int rc = webhook_opts(argc, argv, b);
    if (rc != 0) {
        json_decref(b);
        return rc;
    }
    return send_json(c, "POST", "/api/v1/webhooks", b);
}

static int c_webhook_set(ctl *c, int argc, char **argv)
{
    const char *id = pos(argc, argv, 0), *url = opt(argc, argv, "--url");
    char path[256];
    NEED(id, "WEBHOOK_ID");
    json_t *b = json_object();
    if (url)
        json_object_set_new(b, "url", json_string(url));
    int rc = webhook_opts(argc, argv, b);
    if (rc != 0) {
        json_decref(b);
        return rc;
    }
    char *e = esc(id);
    snprintf(path, sizeof path, "/api/v1/webhooks/%s", e);
    curl_free(e);
    return send_json(c, "PATCH", path, b);
}

static int c_webhook_list(ctl *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return request(c, "GET", "/api/v1/webhooks", NULL, NULL, NULL, NULL, NULL);
}

static int c_webhook_show(ctl *c, int argc, char **argv)
{
    return one_at(c, argc, argv, "GET", "/api/v1/webhooks", "WEBHOOK_ID", NULL);
}

static int c_webhook_rm(ctl *c, int argc, char **argv)
{
    return one_at(c, argc, argv, "DELETE", "/api/v1/webhooks", "WEBHOOK_ID", NULL);
}

/* GET or POST /api/v1/webhooks/ID/<sub>, with --limit and --cursor for the log. */
static int webhook_sub(ctl *c, int argc, char **argv, const char *method, const char *sub)
{
    static const char *const map[] = {"--limit", "limit", "--cursor", "cursor", NULL};
    const char *id = pos(argc, argv, 0);
    char path[512];
    NEED(id, "WEBHOOK_ID");
    char *e = esc(id);
    snprintf(path, sizeof path, "/api/v1/webhooks/%s/%s", e, sub);
    curl_free(e);
    query(path, sizeof path, argc, argv, map);
    return request(c, method, path, NULL, NULL, NULL, NULL, NULL);
}

static int c_webhook_deliveries(ctl *c, int argc, char **argv)
{
    return webhook_sub(c, argc, argv, "GET", "deliveries");
}

static int c_webhook_ping(ctl *c, int argc, char **argv)
{
    return webhook_sub(c, argc, argv, "POST", "ping");
}

/* ---- signed firmware -------------------------------------------------------------------- */

/* PEM text of k (private when priv) into a new malloc'ed string, or NULL. */
static char *key_pem(EVP_PKEY *k, int priv)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL, *out = NULL;
    int ok = b && (priv ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
                        : PEM_write_bio_PUBKEY(b, k)) == 1;
    long n = ok ? BIO_get_mem_data(b, &p) : -1;
    if (n > 0 && (out = malloc((size_t)n + 1)) != NULL) {
        memcpy(out, p, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(b);
    return out;
}

/* key create NAME [--out DIR]: DIR/NAME.key (private, 0600) and DIR/NAME.pub (public,
 * 0644), never over existing files; prints the paths and the key id. */
static int c_key_create(ctl *c, int argc, char **argv)
{
    const char *name = pos(argc, argv, 0), *dir = opt(argc, argv, "--out");
    char priv[1024], pub[1024], id[OTA_SIGN_KEY_ID_LEN + 1];
    unsigned char raw[OTA_SIGN_PUB_BYTES];
    size_t rl = sizeof raw;
    (void)c;
    NEED(name, "NAME");
    snprintf(priv, sizeof priv, "%s/%s.key", dir ? dir : ".", name);
    snprintf(pub, sizeof pub, "%s/%s.pub", dir ? dir : ".", name);
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    char *pp = k ? key_pem(k, 1) : NULL, *pu = k ? key_pem(k, 0) : NULL;
    int rc = 1;
    if (!pp || !pu || EVP_PKEY_get_raw_public_key(k, raw, &rl) != 1)
        fprintf(stderr, "otactl: cannot make an Ed25519 key\n");
    else if ((rc = write_file(priv, pp, 0600, O_EXCL)) == 0 && (rc = write_file(pub, pu, 0644, O_EXCL)) != 0)
        unlink(priv); /* both or neither */
    if (rc == 0) {
        ota_sign_key_id(raw, id);
        json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "privateKey", priv, "publicKey", pub,
                              "keyId", id, "algorithm", "Ed25519");
        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(j);
    }
    if (pp)
        OPENSSL_cleanse(pp, strlen(pp));
    free(pp);
    free(pu);
    EVP_PKEY_free(k);
    return rc;
}

/* SHA-256 (lowercase hex) and size of a file, streamed. 0, or 1 after saying why. */
static int file_sha256(const char *path, char hex[65], int64_t *size)
{
    unsigned char buf[65536], d[32];
    unsigned int dl = 0;
    size_t n;
    FILE *f = fopen(path, "rb");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = f && md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    *size = 0;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        ok = EVP_DigestUpdate(md, buf, n) == 1;
        *size += (int64_t)n;
    }
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(md, d, &dl) == 1;
    if (ok)
        ota_hex_encode(d, 32, hex);
    else
        fprintf(stderr, "otactl: cannot read %s\n", path);
    if (f)
        fclose(f);
    EVP_MD_CTX_free(md);
    return ok ? 0 : 1;
}

/* firmware sign FILE --key PRIV --product PK --version V [--out FILE.sig]: the base64
 * Ed25519 signature of FILE's manifest, printed or written to --out. */
static int c_firmware_sign(ctl *c, int argc, char **argv)
{
    const char *file = pos(argc, argv, 0), *keyf = opt(argc, argv, "--key");
    const char *pk = opt(argc, argv, "--product"), *ver = opt(argc, argv, "--version");
    const char *out = opt(argc, argv, "--out");
    char sha[65], m[OTA_SIGN_MANIFEST_MAX], b64[OTA_SIGN_SIG_B64_LEN + 2];
    unsigned char sig[OTA_SIGN_SIG_BYTES];
    size_t sl = sizeof sig;
    int64_t size;
    (void)c;
    NEED(file, "FILE");
    NEED(keyf && pk && ver, "--key, --product and --version");
    if (file_sha256(file, sha, &size) != 0)
        return 1;
    int ml = ota_sign_manifest(pk, ver, size, sha, m, sizeof m);
    if (ml < 0) {
        fprintf(stderr, "otactl: --product or --version holds a character a manifest cannot\n");
        return 2;
    }
    FILE *kf = fopen(keyf, "r");
    EVP_PKEY *k = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
    if (kf)
        fclose(kf);
    if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
        fprintf(stderr, "otactl: %s: not an Ed25519 private key (PEM)\n", keyf);
        EVP_PKEY_free(k);
        return 1;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestSign(md, sig, &sl, (unsigned char *)m, (size_t)ml) == 1 &&
             ota_b64_encode(sig, sl, b64, sizeof b64) == OTA_SIGN_SIG_B64_LEN;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    if (!ok) {
        fprintf(stderr, "otactl: signing failed\n");
        return 1;
    }
    if (!out) {
        printf("%s\n", b64);
        return 0;
    }
    b64[OTA_SIGN_SIG_B64_LEN] = '\n';
    b64[OTA_SIGN_SIG_B64_LEN + 1] = '\0';
    return write_text(out, b64, 0644);
}

/* key add PRODUCT_KEY --name NAME --public-key FILE */
static int c_key_add(ctl *c, int argc, char **argv)
{
    const char *pk = pos(argc, argv, 0), *name = opt(argc, argv, "--name");
    const char *file = opt(argc, argv, "--public-key");
    char pem[OTA_SIGN_PEM_MAX + 1];
    NEED(pk && name && file, "PRODUCT_KEY, --name and --public-key");
    FILE *f = fopen(file, "r");
    size_t n = f ? fread(pem, 1, sizeof pem - 1, f) : 0;
    if (f)
        fclose(f);
    if (!f || n == 0) {
        fprintf(stderr, "otactl: cannot read %s\n", file);
        return 1;
    }
    pem[n] = '\0';
    return product_post(c, pk, "signing-keys",
                        json_pack("{s:s, s:s}", "name", name, "publicKey", pem));
}

static int c_key_list(ctl *c, int argc, char **argv)
{
    return product_get(c, argc, argv, "signing-keys", NULL);
}

static int c_key_retire(ctl *c, int argc, char **argv)
{
    return product_item(c, argc, argv, "DELETE", "signing-keys", "PRODUCT_KEY KEY_ID");
}

/* product require-signature PRODUCT_KEY true|false */
static int c_product_require_signature(ctl *c, int argc, char **argv)
{
    const char *pk = pos(argc, argv, 0), *v = pos(argc, argv, 1);
    char path[512], body[40];
    NEED(pk && v && (strcmp(v, "true") == 0 || strcmp(v, "false") == 0),
         "PRODUCT_KEY true|false");
    char *k = esc(pk);
    snprintf(path, sizeof path, "/api/v1/products/%s", k);
    curl_free(k);
    snprintf(body, sizeof body, "{\"requireSignature\":%s}", v);
    return request(c, "PATCH", path, body, NULL, NULL, NULL, NULL);
}

typedef struct {
    const char *group, *verb, *usage;
    int (*fn)(ctl *c, int argc, char **argv);
} command;

static const command commands[] = {
    {"health", NULL, "health", c_health},
    {"product", "create", "product create NAME [--description TEXT]", c_product_create},
    {"product", "list", "product list [--page N] [--page-size N]", c_product_list},
    {"product", "get", "product get PRODUCT_KEY", c_product_get},
    {"product", "require-signature", "product require-signature PRODUCT_KEY true|false",
     c_product_require_signature},
    {"key", "create",
     "key create NAME [--out DIR]   (Ed25519 pair on this machine: NAME.key 0600, NAME.pub)",
     c_key_create},
    {"key", "add", "key add PRODUCT_KEY --name NAME --public-key FILE.pub", c_key_add},
    {"key", "list", "key list PRODUCT_KEY", c_key_list},
    {"key", "retire", "key retire PRODUCT_KEY KEY_ID", c_key_retire},
    {"device", "create", "device create PRODUCT_KEY IDENTIFIER [DEVICE_NAME]", c_device_create},
    {"device", "list",
     "device list PRODUCT_KEY [--online true|false] [--tag K=V,...] [--group G,...]"
     " [--from-version V,...] [--page N] [--page-size N]",
     c_device_list},
    {"device", "tag", "device tag PRODUCT_KEY ID[,ID...] KEY=VALUE...   (adds or changes tags)",
     c_device_tag},
    {"device", "untag", "device untag PRODUCT_KEY ID[,ID...] KEY...", c_device_untag},
    {"device", "set-tags",
     "device set-tags PRODUCT_KEY IDENTIFIER [KEY=VALUE...]   (replaces them; none clears)",
     c_device_set_tags},
    {"device", "count",
     "device count PRODUCT_KEY [--tag K=V,...] [--group G,...] [--from-version V,...]"
     " [--firmware ID]",
     c_device_count},
    {"group", "create", "group create PRODUCT_KEY NAME", c_group_create},
    {"group", "list", "group list PRODUCT_KEY [--page N] [--page-size N]", c_group_list},
    {"group", "delete", "group delete PRODUCT_KEY NAME", c_group_delete},
    {"group", "add", "group add PRODUCT_KEY NAME ID[,ID...]", c_group_add},
    {"group", "remove", "group remove PRODUCT_KEY NAME ID[,ID...]", c_group_remove},
    {"group", "members", "group members PRODUCT_KEY NAME [--page N] [--page-size N]",
     c_group_members},
    {"device", "get", "device get PRODUCT_KEY IDENTIFIER", c_device_get},
    {"device", "import", "device import PRODUCT_KEY FILE.ndjson|-", c_device_import},
    {"device", "cert",
     "device cert PRODUCT_KEY IDENTIFIER [--out PREFIX]   (writes PREFIX.crt, PREFIX.key; "
     "default PREFIX: PRODUCT_KEY.IDENTIFIER)",
     c_device_cert},
    {"device", "certs", "device certs PRODUCT_KEY IDENTIFIER", c_device_certs},
    {"device", "revoke", "device revoke PRODUCT_KEY IDENTIFIER   (every certificate of the device)",
     c_device_revoke},
    {"firmware", "add",
     "firmware add FILE --name NAME --product PRODUCT_KEY --version V [--description TEXT]"
     " [--file-name NAME] [--signature BASE64|@FILE.sig]",
     c_firmware_add},
    {"firmware", "sign",
     "firmware sign FILE --key NAME.key --product PRODUCT_KEY --version V [--out FILE.sig]"
     "   (offline; prints the signature)",
     c_firmware_sign},
    {"firmware", "list", "firmware list [--product PRODUCT_KEY] [--page N] [--page-size N]",
     c_firmware_list},
    {"firmware", "get", "firmware get FIRMWARE_ID", c_firmware_get},
    {"firmware", "download", "firmware download FIRMWARE_ID -o FILE", c_firmware_download},
    {"firmware", "delete", "firmware delete FIRMWARE_ID", c_firmware_delete},
    {"firmware", "eligible", "firmware eligible FIRMWARE_ID [--q TEXT] [--page N]",
     c_firmware_eligible},
    {"batch", "create",
     "batch create FIRMWARE_ID [--devices ID,ID,...|@FILE] [--validity DAYS] [--policy "
     "standard|silent]"
     " [--timeout MIN] [--retries N --retry-interval MIN] [--rate PUSHES_PER_MIN]"
     " [--filter tag=K=V|group=G]... [--group G] [--from-version V]... [--continuous]"
     " [--rollout JSON|@FILE]   (phases and brakes: docs/batches.md)",
     c_batch_create},
    {"batch", "list", "batch list [--firmware ID] [--product KEY] [--state S] [--page N]",
     c_batch_list},
    {"batch", "get", "batch get BATCH_ID", c_batch_get},
    {"batch", "devices",
     "batch devices BATCH_ID [--state UPGRADE_STATE] [--page N] [--page-size N]", c_batch_devices},
    {"batch", "terminate", "batch terminate BATCH_ID", c_batch_terminate},
    {"batch", "pause", "batch pause BATCH_ID   (no new pushes until resumed)", c_batch_pause},
    {"batch", "resume", "batch resume BATCH_ID", c_batch_resume},
    {"batch", "wait", "batch wait BATCH_ID [--timeout SECONDS]", c_batch_wait},
    {"login", NULL,
     "login USER [--password-file FILE]   (password from stdin by default; keeps the session)",
     c_login},
    {"logout", NULL, "logout   (ends the session login kept)", c_logout},
    {"user", "add",
     "user add NAME --role viewer|operator|admin [--password-file FILE|none]"
     "   (none: a service account)",
     c_user_add},
    {"user", "list", "user list [--page N] [--page-size N]", c_user_list},
    {"user", "disable", "user disable NAME", c_user_disable},
    {"user", "enable", "user enable NAME", c_user_enable},
    {"token", "create",
     "token create NAME --role ROLE [--days N | --expires RFC3339] [--user NAME]"
     "   (the token is shown once)",
     c_token_create},
    {"token", "list", "token list [--page N] [--page-size N]", c_token_list},
    {"token", "revoke", "token revoke TOKEN_ID", c_token_revoke},
    {"webhook", "add",
     "webhook add URL --events E,E|* --secret-file FILE|- [--group-max N] [--group-seconds S]"
     " [--disable]   (the secret from the file's first line, never the command line)",
     c_webhook_add},
    {"webhook", "set",
     "webhook set WEBHOOK_ID [--url URL] [--events E,E] [--secret-file FILE|-] [--group-max N]"
     " [--group-seconds S] [--enable|--disable]",
     c_webhook_set},
    {"webhook", "list", "webhook list", c_webhook_list},
    {"webhook", "show", "webhook show WEBHOOK_ID", c_webhook_show},
    {"webhook", "rm", "webhook rm WEBHOOK_ID", c_webhook_rm},
    {"webhook", "deliveries", "webhook deliveries WEBHOOK_ID [--limit N] [--cursor C]",
     c_webhook_deliveries},
    {"webhook", "ping", "webhook ping WEBHOOK_ID   (a test delivery)", c_webhook_ping},
};
#define NCMD (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: otactl [--url URL] [--token TOKEN | --token-file FILE] [--cacert FILE] [--quiet]\n"
        "              COMMAND\n\n"
        "URL defaults to $OTA_URL or http://127.0.0.1:8080; the token to $OTA_ADMIN_TOKEN, the\n"
        "session of `otactl login` ($OTA_TOKEN_FILE or ~/.config/otactl/token) or the file\n"
        "./data/keys/admin.token. An https:// URL is verified (certificate and host\n"
        "name) against --cacert, $OTA_CA or ./data/keys/ca.pem when it exists. Answers are\n"
        "printed as JSON; errors go to stderr (exit 1); bad usage exits 2.\n\nCommands:\n");
    for (size_t i = 0; i < NCMD; i++)
        fprintf(f, "  %s\n", commands[i].usage);
}

static void read_token_file(const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(out, (int)outlen, f)) {
        size_t n = strlen(out);
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
            out[--n] = '\0';
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    ctl c = {0};
    const char *token_file = NULL;
    int i = 1;
    snprintf(c.url, sizeof c.url, "%s",
             getenv("OTA_URL") ? getenv("OTA_URL") : "http://127.0.0.1:8080");
    if (getenv("OTA_ADMIN_TOKEN"))
        snprintf(c.token, sizeof c.token, "%s", getenv("OTA_ADMIN_TOKEN"));
    if (getenv("OTA_CA"))
        snprintf(c.cacert, sizeof c.cacert, "%s", getenv("OTA_CA"));
    else if (access("data/keys/ca.pem", R_OK) == 0)
        snprintf(c.cacert, sizeof c.cacert, "data/keys/ca.pem");
    for (; i < argc && strncmp(argv[i], "-", 1) == 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            c.quiet = 1;
        } else if (i + 1 < argc && strcmp(argv[i], "--url") == 0) {
            snprintf(c.url, sizeof c.url, "%s", argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--token") == 0) {
            snprintf(c.token, sizeof c.token, "%s", argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--cacert") == 0) {
            snprintf(c.cacert, sizeof c.cacert, "%s", argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--token-file") == 0) {
            token_file = argv[++i];
        } else {
            fprintf(stderr, "otactl: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (token_file)
        read_token_file(token_file, c.token, sizeof c.token);
    else if (!c.token[0]) {
        char session[1024];
        if (session_file(session, sizeof session) == 0)
            read_token_file(session, c.token, sizeof c.token);
        if (!c.token[0])
            read_token_file("data/keys/admin.token", c.token, sizeof c.token);
    }
    size_t ul = strlen(c.url);
    while (ul > 0 && c.url[ul - 1] == '/')
        c.url[--ul] = '\0';
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *group = argv[i], *verb = i + 1 < argc ? argv[i + 1] : NULL;
    for (size_t k = 0; k < NCMD; k++) {
        if (strcmp(commands[k].group, group) != 0)
            continue;
        if (!commands[k].verb) {
            curl_global_init(CURL_GLOBAL_DEFAULT);
            int rc = commands[k].fn(&c, argc - i - 1, argv + i + 1);
            curl_global_cleanup();
            return rc;
        }
        if (verb && strcmp(commands[k].verb, verb) == 0) {
            curl_global_init(CURL_GLOBAL_DEFAULT);
            int rc = commands[k].fn(&c, argc - i - 2, argv + i + 2);
            curl_global_cleanup();
            return rc;
        }
    }
    fprintf(stderr, "otactl: unknown command\n");
    usage(stderr);
    return 2;
}
