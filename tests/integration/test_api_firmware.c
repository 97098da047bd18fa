/* Integration: firmware upload rules (docs/api.md, "Firmware"), hashes, download
 * with Range and HEAD, shared files, delete (and in use), eligible devices, and that a
 * refused or interrupted upload leaves no file and no row behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_api_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ota_crypto.h"

#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char pk[16], pk2[16];

static int setup(void **st)
{
    if (tapi_setup(st) != 0)
        return -1;
    tapi_ctx *c = *st;
    tapi_product(c, "fw-lamp", pk);
    tapi_product(c, "fw-lamp-2", pk2);
    return 0;
}

static void hash_hex(const EVP_MD *md, const void *data, size_t len, char *out)
{
    unsigned char d[64];
    unsigned int n = 0;
    EVP_Digest(data, len, d, &n, md, NULL);
    ota_hex_encode(d, n, out);
}

/* Uploads with the usual fields; NULL leaves a field out. */
static long upload(tapi_ctx *c, const char *name, const char *key, const char *version,
                   const char *desc, const char *file_name, const void *data, size_t len,
                   oth_resp *r)
{
    const char *f[12];
    int n = 0;
    if (name) {
        f[n++] = "firmwareName";
        f[n++] = name;
    }
    if (key) {
        f[n++] = "productKey";
        f[n++] = key;
    }
    if (version) {
        f[n++] = "firmwareVersion";
        f[n++] = version;
    }
    if (desc) {
        f[n++] = "firmwareDescription";
        f[n++] = desc;
    }
    f[n] = NULL;
    oth_upload(&c->env, "/api/v1/firmwares", f, file_name, data, len, r);
    return r->status;
}

static json_int_t firmware_total(tapi_ctx *c, const char *key)
{
    oth_resp r;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/firmwares?productKey=%s", key);
    oth_get(&c->env, path, &r);
    json_int_t n = json_integer_value(json_object_get(r.json, "total"));
    oth_resp_free(&r);
    return n;
}

static void test_upload_and_download(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    size_t len = 3 * 1024 * 1024 + 17;
    unsigned char *data = malloc(len);
    char md5[33], sha[65], path[128], id[24];
    ota_random_bytes(data, len);
    hash_hex(EVP_md5(), data, len, md5);
    hash_hex(EVP_sha256(), data, len, sha);
    assert_int_equal(
        upload(c, "灯固件(v1.0)_a-b", pk, "1.0.0", "首个版本", "固件_1.tar.gz", data, len, &r),
        201);
    assert_string_equal(tapi_jstr(r.json, "md5"), md5);
    assert_string_equal(tapi_jstr(r.json, "sha256"), sha);
    assert_string_equal(tapi_jstr(r.json, "firmwareName"), "灯固件(v1.0)_a-b");
    assert_string_equal(tapi_jstr(r.json, "productKey"), pk);
    assert_string_equal(tapi_jstr(r.json, "firmwareVersion"), "1.0.0");
    assert_string_equal(tapi_jstr(r.json, "firmwareDescription"), "首个版本");
    assert_string_equal(tapi_jstr(r.json, "firmwareFileName"), "固件_1.tar.gz");
    assert_int_equal(json_integer_value(json_object_get(r.json, "firmwareSize")), len);
    assert_int_equal(strlen(tapi_jstr(r.json, "createdTime")), 24);
    snprintf(id, sizeof id, "%s", tapi_jstr(r.json, "firmwareId"));
    assert_true(strlen(id) > 0);
    oth_resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/firmwares/%s", id);
    oth_get(&c->env, path, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(tapi_jstr(r.json, "sha256"), sha);
    oth_resp_free(&r);

    snprintf(path, sizeof path, "/api/v1/firmwares/%s/file", id);
    oth_get(&c->env, path, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, len);
    assert_memory_equal(r.body, data, len);
    assert_non_null(strstr(r.headers, "Accept-Ranges: bytes"));
    oth_resp_free(&r);
    const char *range[] = {"Range: bytes=100-199", NULL};
    oth_http(&c->env, "GET", path, 1, NULL, NULL, 0, range, &r);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.len, 100);
    assert_memory_equal(r.body, data + 100, 100);
    char cr[96];
    snprintf(cr, sizeof cr, "Content-Range: bytes 100-199/%zu", len);
    assert_non_null(strstr(r.headers, cr));
    oth_resp_free(&r);
    const char *suffix[] = {"Range: bytes=-10", NULL};
    oth_http(&c->env, "GET", path, 1, NULL, NULL, 0, suffix, &r);
    assert_int_equal(r.status, 206);
    assert_memory_equal(r.body, data + len - 10, 10);
    oth_resp_free(&r);
    const char *open_end[] = {"Range: bytes=3145700-", NULL};
    oth_http(&c->env, "GET", path, 1, NULL, NULL, 0, open_end, &r);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.len, len - 3145700);
    oth_resp_free(&r);
    const char *unsat[] = {"Range: bytes=999999999-", NULL};
    oth_http(&c->env, "GET", path, 1, NULL, NULL, 0, unsat, &r);
    assert_int_equal(r.status, 416);
    snprintf(cr, sizeof cr, "Content-Range: bytes */%zu", len);
    assert_non_null(strstr(r.headers, cr));
    oth_resp_free(&r);
    oth_http(&c->env, "HEAD", path, 1, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    char clh[64];
    snprintf(clh, sizeof clh, "Content-Length: %zu", len);
    assert_non_null(strstr(r.headers, clh));
    oth_resp_free(&r);
    oth_http(&c->env, "GET", path, 0, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 401);
    oth_resp_free(&r);

    /* same bytes, another firmware: one shared file; delete keeps it until the last row */
    int files = tapi_count_files(c, "firmware");
    assert_int_equal(upload(c, "copy", pk2, "1.0.0", NULL, "copy.bin", data, len, &r), 201);
    char id2[24];
    snprintf(id2, sizeof id2, "%s", tapi_jstr(r.json, "firmwareId"));
    oth_resp_free(&r);
    assert_int_equal(tapi_count_files(c, "firmware"), files);
    snprintf(path, sizeof path, "/api/v1/firmwares/%s", id2);
    oth_http(&c->env, "DELETE", path, 1, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 204);
    oth_resp_free(&r);
    assert_int_equal(tapi_count_files(c, "firmware"), files);
    oth_get(&c->env, path, &r);
    assert_int_equal(r.status, 404);
    oth_resp_free(&r);
    oth_http(&c->env, "DELETE", path, 1, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 404);
    oth_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/firmwares/%s", id);
    oth_http(&c->env, "DELETE", path, 1, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 204);
    oth_resp_free(&r);
    assert_int_equal(tapi_count_files(c, "firmware"), files - 1);
    free(data);
}

static void test_rules(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    const char *d = "firmware-bytes";
    size_t dl = strlen(d);
    assert_int_equal(upload(c, "base", pk, "2.0.0", NULL, "base.bin", d, dl, &r), 201);
    oth_resp_free(&r);
    json_int_t rows = firmware_total(c, pk);
    int files = tapi_count_files(c, "firmware");
    char n51[64], v101[128], desc101[128], f65[96], f64[96];
    memset(n51, 'a', 51);
    n51[51] = '\0';
    memset(v101, '1', 101);
    v101[101] = '\0';
    memset(desc101, 'd', 101);
    desc101[101] = '\0';
    memset(f65, 'f', 65);
    memcpy(f65 + 65, ".bin", 5);
    memset(f64, 'f', 64);
    memcpy(f64 + 64, ".bin", 5);
    static char pkbad[] = "AAAAAAAAAAA";
    const struct {
        const char *name, *key, *version, *desc, *file;
        long status;
        const char *field;
    } bad[] = {
        {"fw 1", pk, "3.0", NULL, "a.bin", 422, "firmwareName"},
        {"_fw", pk, "3.0", NULL, "a.bin", 422, "firmwareName"},
        {"fw.", pk, "3.0", NULL, "a.bin", 422, "firmwareName"},
        {"fw@1", pk, "3.0", NULL, "a.bin", 422, "firmwareName"},
        {n51, pk, "3.0", NULL, "a.bin", 422, "firmwareName"},
        {NULL, pk, "3.0", NULL, "a.bin", 422, "firmwareName"},
        {"base", pk, "3.0", NULL, "a.bin", 409, "firmwareName"},
        {"fw3", NULL, "3.0", NULL, "a.bin", 422, "productKey"},
        {"fw3", pkbad, "3.0", NULL, "a.bin", 422, "productKey"},
        {"fw3", pk, "3.0 beta", NULL, "a.bin", 422, "firmwareVersion"},
        {"fw3", pk, "v(3)", NULL, "a.bin", 422, "firmwareVersion"},
        {"fw3", pk, v101, NULL, "a.bin", 422, "firmwareVersion"},
        {"fw3", pk, NULL, NULL, "a.bin", 422, "firmwareVersion"},
        {"fw3", pk, "2.0.0", NULL, "a.bin", 409, "firmwareVersion"},
        {"fw3", pk, "3.0", desc101, "a.bin", 422, "firmwareDescription"},
        {"fw3", pk, "3.0", NULL, "a.exe", 422, "file"},
        {"fw3", pk, "3.0", NULL, "a.tar.bz2", 422, "file"},
        {"fw3", pk, "3.0", NULL, "a b.bin", 422, "file"},
        {"fw3", pk, "3.0", NULL, "a.b.bin", 422, "file"},
        {"fw3", pk, "3.0", NULL, ".bin", 422, "file"},
        {"fw3", pk, "3.0", NULL, f65, 422, "file"},
        {"fw3", pk, "3.0", NULL, NULL, 422, "file"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        upload(c, bad[i].name, bad[i].key, bad[i].version, bad[i].desc, bad[i].file, d, dl, &r);
        if (r.status != bad[i].status || strcmp(oth_err_field(&r), bad[i].field) != 0)
            fprintf(stderr, "upload case %zu: %ld %s\n", i, r.status, r.body);
        assert_int_equal(r.status, bad[i].status);
        assert_string_equal(oth_err_field(&r), bad[i].field);
        oth_resp_free(&r);
        assert_int_equal(firmware_total(c, pk), rows);
        assert_int_equal(tapi_count_files(c, "firmware"), files);
        assert_int_equal(tapi_count_files(c, "tmp"), 0);
    }
    /* an empty file, an unknown field, a second file, the wrong content type */
    upload(c, "fw3", pk, "3.0", NULL, "a.bin", "", 0, &r);
    assert_int_equal(r.status, 422);
    assert_string_equal(oth_err_field(&r), "file");
    oth_resp_free(&r);
    const char *extra[] = {"firmwareName", "fw3",   "productKey", pk,  "firmwareVersion",
                           "3.0",          "color", "red",        NULL};
    oth_upload(&c->env, "/api/v1/firmwares", extra, "a.bin", d, dl, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(oth_err_code(&r), "unknown_field");
    assert_string_equal(oth_err_field(&r), "color");
    oth_resp_free(&r);
    tapi_post_raw(c, "/api/v1/firmwares", "application/json", "{\"firmwareName\":\"x\"}", &r);
    assert_int_equal(r.status, 415);
    oth_resp_free(&r);
    tapi_post_raw(c, "/api/v1/firmwares", "multipart/form-data; boundary=xyz",
                  "--xyz\r\nContent-Disposition: form-data; name=\"firmwareName\"\r\n\r\nfw", &r);
    assert_int_equal(r.status, 400);
    oth_resp_free(&r);
    assert_int_equal(firmware_total(c, pk), rows);
    assert_int_equal(tapi_count_files(c, "tmp"), 0);

    /* the limits that pass: 64-character file name, 50-character name, 100-character version */
    memset(n51, 'a', 50);
    n51[50] = '\0';
    memset(v101, '1', 100);
    v101[100] = '\0';
    assert_int_equal(upload(c, n51, pk, v101, NULL, f64, "x", 1, &r), 201);
    oth_resp_free(&r);
    /* the same version in another product is fine */
    assert_int_equal(upload(c, "base-other", pk2, "2.0.0", NULL, "b.rom", d, dl, &r), 201);
    oth_resp_free(&r);
}

static void test_too_large(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    size_t len = 104857600 + 1;
    char *data = calloc(1, len);
    json_int_t rows = firmware_total(c, pk);
    int files = tapi_count_files(c, "firmware");
    upload(c, "huge", pk, "9.9", NULL, "huge.bin", data, len, &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(oth_err_field(&r), "file");
    oth_resp_free(&r);
    assert_int_equal(firmware_total(c, pk), rows);
    assert_int_equal(tapi_count_files(c, "firmware"), files);
    assert_int_equal(tapi_count_files(c, "tmp"), 0);
    /* exactly 100 MB is accepted */
    assert_int_equal(upload(c, "huge", pk, "9.9", NULL, "huge.bin", data, len - 1, &r), 201);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/firmwares/%s", tapi_jstr(r.json, "firmwareId"));
    oth_resp_free(&r);
    oth_http(&c->env, "DELETE", path, 1, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 204);
    oth_resp_free(&r);
    free(data);
}

/* A declared Content-Length far above 100 MB is refused before any body byte is sent. */
static void test_declared_too_large(void **st)
{
    tapi_ctx *c = *st;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)c->env.http_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char head[1024], buf[2048];
    int n = snprintf(head, sizeof head,
                     "POST /api/v1/firmwares HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: multipart/form-data; boundary=BB\r\n"
                     "Content-Length: 300000000\r\n\r\n",
                     c->env.admin_token);
    assert_int_equal(write(fd, head, (size_t)n), n);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t got = read(fd, buf, sizeof buf - 1);
    assert_true(got > 12);
    buf[got] = '\0';
    assert_non_null(strstr(buf, " 413 "));
    assert_non_null(strstr(buf, "\"field\":\"file\""));
    close(fd);
    assert_int_equal(tapi_count_files(c, "tmp"), 0);
}

static void test_interrupted_upload(void **st)
{
    tapi_ctx *c = *st;
    json_int_t rows = firmware_total(c, pk);
    int files = tapi_count_files(c, "firmware");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)c->env.http_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char head[1024];
    int n =
        snprintf(head, sizeof head,
                 "POST /api/v1/firmwares HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                 "Content-Type: multipart/form-data; boundary=BB\r\nContent-Length: 5000000\r\n\r\n"
                 "--BB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n",
                 c->env.admin_token);
    assert_int_equal(write(fd, head, (size_t)n), n);
    char chunk[65536];
    memset(chunk, 7, sizeof chunk);
    for (int i = 0; i < 8; i++)
        assert_int_equal(write(fd, chunk, sizeof chunk), (ssize_t)sizeof chunk);
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(tapi_count_files(c, "tmp"), 1); /* the upload streams to disk as it arrives */
    close(fd);
    for (int i = 0; i < 50 && tapi_count_files(c, "tmp") != 0; i++)
        nanosleep(&ts, NULL);
    assert_int_equal(tapi_count_files(c, "tmp"), 0);
    assert_int_equal(tapi_count_files(c, "firmware"), files);
    assert_int_equal(firmware_total(c, pk), rows);
}

static void test_fifty_per_product(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    char key[16], name[32], ver[16];
    tapi_product(c, "fifty", key);
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "fifty-%d", i);
        snprintf(ver, sizeof ver, "1.%d", i);
        assert_int_equal(upload(c, name, key, ver, NULL, "f.bin", name, strlen(name), &r), 201);
        oth_resp_free(&r);
    }
    upload(c, "fifty-50", key, "1.50", NULL, "f.bin", "x", 1, &r);
    assert_int_equal(r.status, 422);
    assert_string_equal(oth_err_code(&r), "limit_exceeded");
    oth_resp_free(&r);
    assert_int_equal(firmware_total(c, key), 50);
    oth_get(&c->env, "/api/v1/firmwares?pageSize=5&page=2", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 5);
    oth_resp_free(&r);
    oth_get(&c->env, "/api/v1/firmwares?productKey=AAAAAAAAAAA", &r);
    assert_int_equal(r.status, 404);
    oth_resp_free(&r);
}

static void test_in_use_and_eligible(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    char key[16], path[200], q[2048], id[24];
    tapi_product(c, "eligible", key);
    snprintf(path, sizeof path, "/api/v1/products/%s/devices:import", key);
    const char *nd = "{\"identifier\":\"e1\",\"deviceName\":\"Hall\"}\n"
                     "{\"identifier\":\"e2\",\"deviceName\":\"Kitchen\"}\n"
                     "{\"identifier\":\"e3\",\"deviceName\":\"Garage\"}\n"
                     "{\"identifier\":\"e4\",\"deviceName\":\"Attic\"}\n"
                     "{\"identifier\":\"e5\",\"deviceName\":\"Cellar\"}\n";
    oth_http(&c->env, "POST", path, 1, "application/x-ndjson", nd, strlen(nd), NULL, &r);
    assert_int_equal(r.status, 200);
    oth_resp_free(&r);
    assert_int_equal(upload(c, "elig", key, "2.0", NULL, "e.bin", "e", 1, &r), 201);
    snprintf(id, sizeof id, "%s", tapi_jstr(r.json, "firmwareId"));
    oth_resp_free(&r);
    /* e1: activated, no version; e2: activated, 1.0; e3: activated, already 2.0;
     * e4: not activated; e5: activated but in an unfinished task of a running batch */
    snprintf(
        q, sizeof q,
        "UPDATE devices SET activated=1 WHERE identifier IN ('e1','e2','e3','e5');"
        "UPDATE devices SET firmware_version='1.0' WHERE identifier='e2';"
        "UPDATE devices SET firmware_version='2.0' WHERE identifier='e3';"
        "INSERT INTO batches(id, firmware_id, product_id, scope, policy, validity_days,"
        " timeout_min, retry_times, retry_interval_min, max_push_per_min, state, start_ms,"
        " expires_ms, total) SELECT 9001, %s, product_id, 'directed', 'standard', 1, 10, 0, 1,"
        " 1000, 'in_progress', 0, 9999999999999, 1 FROM firmwares WHERE id=%s;"
        "INSERT INTO tasks(batch_id, device_id, state, updated_ms) SELECT 9001, id, 'pushed', 0"
        " FROM devices WHERE identifier='e5';",
        id, id);
    assert_int_equal(tapi_sql(c, q), 0);
    snprintf(path, sizeof path, "/api/v1/firmwares/%s/eligible-devices", id);
    oth_get(&c->env, path, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "total")), 2);
    json_t *items = json_object_get(r.json, "items");
    assert_string_equal(tapi_jstr(json_array_get(items, 0), "identifier"), "e1");
    assert_string_equal(tapi_jstr(json_array_get(items, 1), "identifier"), "e2");
    oth_resp_free(&r);
    snprintf(path, sizeof path, "/api/v1/firmwares/%s/eligible-devices?q=Kitch", id);
    oth_get(&c->env, path, &r);
    assert_int_equal(json_integer_value(json_object_get(r.json, "total")), 1);
    oth_resp_free(&r);
    oth_get(&c->env, "/api/v1/firmwares/999999/eligible-devices", &r);
    assert_int_equal(r.status, 404);
    oth_resp_free(&r);

    /* delete while the batch runs: 409 firmware_in_use; once finished: 204 */
    snprintf(path, sizeof path, "/api/v1/firmwares/%s", id);
    oth_http(&c->env, "DELETE", path, 1, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 409);
    assert_string_equal(oth_err_code(&r), "firmware_in_use");
    oth_resp_free(&r);
    assert_int_equal(tapi_sql(c, "UPDATE tasks SET state='failed' WHERE batch_id=9001;"
                                 "UPDATE batches SET state='terminated', end_ms=1 WHERE id=9001;"),
                     0);
    oth_http(&c->env, "DELETE", path, 1, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 204);
    oth_resp_free(&r);
    oth_get(&c->env, "/api/v1/firmwares/abc", &r);
    assert_int_equal(r.status, 404);
    oth_resp_free(&r);
}

static void test_restart_keeps_data(void **st)
{
    tapi_ctx *c = *st;
    oth_resp r;
    json_int_t rows = firmware_total(c, pk);
    assert_int_equal(oth_otad_stop(&c->env, SIGTERM), 0);
    /* a crash leftover in tmp/ and an orphan file are swept at start */
    char p[400];
    snprintf(p, sizeof p, "%s/tmp/upload-leftover", c->env.dir);
    FILE *f = fopen(p, "w");
    fputs("half", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/firmware/%064d", c->env.dir, 0);
    f = fopen(p, "w");
    fputs("orphan", f);
    fclose(f);
    assert_int_equal(oth_otad_start(&c->env), 0);
    assert_int_equal(firmware_total(c, pk), rows);
    assert_int_equal(tapi_count_files(c, "tmp"), 0);
    assert_true(access(p, F_OK) != 0);
    oth_get(&c->env, "/api/v1/firmwares?pageSize=1", &r);
    assert_int_equal(r.status, 200);
    oth_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload_and_download), cmocka_unit_test(test_rules),
        cmocka_unit_test(test_too_large),           cmocka_unit_test(test_declared_too_large),
        cmocka_unit_test(test_interrupted_upload),  cmocka_unit_test(test_fifty_per_product),
        cmocka_unit_test(test_in_use_and_eligible), cmocka_unit_test(test_restart_keeps_data),
    };
    return cmocka_run_group_tests(tests, setup, tapi_teardown);
}
