/*
 * server/core/reqparse.c: what a client's body turns into. Multipart as curl and browsers
 * send it (preamble, quoted boundary, split anywhere, epilogue) and what is refused;
 * NDJSON lines cut across chunks; JSON bodies' field rules and their error codes.
 */
#include "core/reqparse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

typedef struct {
    char data[4096];
    size_t n;
    int begun;
} mem_file;

static int fb(void *ud)
{
    ((mem_file *)ud)->begun++;
    return 0;
}

static int fw(void *ud, const char *d, size_t n)
{
    mem_file *m = ud;
    assert_true(m->n + n < sizeof m->data);
    memcpy(m->data + m->n, d, n);
    m->n += n;
    return 0;
}

#define GOOD_FORM(B, P)                                                                            \
    "preamble to ignore\r\n"                                                                       \
    "--" B "\r\n"                                                                                  \
    "Content-Disposition: form-data; name=\"firmwareName\"\r\n\r\n"                                \
    "fw_1\r\n"                                                                                     \
    "--" B "\r\n"                                                                                  \
    "Content-Disposition: form-data; name=\"productKey\"\r\n\r\n"                                  \
    "abcdefghijk\r\n"                                                                              \
    "--" B "\r\n"                                                                                  \
    "Content-Disposition: form-data; name=\"firmwareVersion\"\r\n\r\n"                             \
    "1.0.0\r\n"                                                                                    \
    "--" B "\r\n"                                                                                  \
    "Content-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"                        \
    "Content-Type: application/octet-stream\r\n\r\n"                                               \
    "\r\n--" P "x\r\r\n-\x00 bytes\r\n"                                                            \
    "--" B "--\r\nepilogue"

/* Parses body fed in chunks of `chunk` bytes with a file ceiling of max_file bytes;
 * returns rq_form_finish's result. */
static int form_max(const char *ct, const char *body, size_t n, size_t chunk, uint64_t max_file,
                    rq_form *f, mem_file *m)
{
    memset(m, 0, sizeof *m);
    rq_file_sink sink = {fb, fw, m};
    if (rq_form_init(f, ct, max_file, sink) != 0)
        return -1;
    for (size_t off = 0; off < n; off += chunk)
        if (rq_form_feed(f, body + off, n - off < chunk ? n - off : chunk) != 0)
            break;
    int rc = rq_form_finish(f);
    rq_form_free(f);
    return rc;
}

static int form(const char *ct, const char *body, size_t n, size_t chunk, rq_form *f, mem_file *m)
{
    return form_max(ct, body, n, chunk, 1 << 20, f, m);
}

static void test_multipart_any_split(void **state)
{
    (void)state;
    static const char body[] =
        GOOD_FORM("----WebKitFormBoundary7MA4YWxk", "----WebKitFormBoundary7MA4YW");
    static const char file[] = "\r\n------WebKitFormBoundary7MA4YWx\r\r\n-\x00 bytes";
    static rq_form f;
    mem_file m;
    for (size_t chunk = 1; chunk <= sizeof body; chunk++) {
        int rc = form("multipart/form-data; boundary=\"----WebKitFormBoundary7MA4YWxk\"", body,
                      sizeof body - 1, chunk, &f, &m);
        if (rc != 0)
            fail_msg("chunk %zu: %s %s", chunk, f.err.code, f.err.msg);
        assert_string_equal(f.field[RQ_F_NAME], "fw_1");
        assert_string_equal(f.field[RQ_F_PRODUCT], "abcdefghijk");
        assert_string_equal(f.field[RQ_F_VERSION], "1.0.0");
        assert_string_equal(f.file_name, "a.bin");
        assert_int_equal(m.begun, 1);
        assert_int_equal(m.n, sizeof file - 1);
        assert_memory_equal(m.data, file, sizeof file - 1);
    }
}

static void expect_form_error(const char *ct, const char *body, unsigned status, const char *code)
{
    static rq_form f;
    mem_file m;
    assert_int_equal(form(ct, body, strlen(body), 7, &f, &m), -1);
    if (f.err.status != status || strcmp(f.err.code, code) != 0)
        fail_msg("want %u %s, got %u %s (%s)", status, code, f.err.status, f.err.code, f.err.msg);
}

static void test_multipart_refusals(void **state)
{
    (void)state;
    const char *ct = "multipart/form-data; boundary=B";
    expect_form_error("multipart/form-data", "", 400, "bad_request"); /* no boundary */
    expect_form_error(ct, "--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--B--",
                      400, "unknown_field");
    expect_form_error(ct, "--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nv\r\n--B--",
                      422, "invalid_field"); /* a file part without a file name */
    expect_form_error(ct, "--B\r\nContent-Disposition: form-data; name=\"firmwareName\"\r\n\r\nv",
                      400, "bad_request"); /* no closing delimiter */
    expect_form_error(ct, "--Bgarbage", 400, "bad_request");
    expect_form_error(ct, "--B--", 422, "missing_field");
    expect_form_error(
        ct,
        "--B\r\nContent-Disposition: form-data; name=\"productKey\"\r\n\r\na\r\n"
        "--B\r\nContent-Disposition: form-data; name=\"productKey\"\r\n\r\nb\r\n--B--",
        400, "bad_request"); /* twice */
}

/* A field or file over its limit: the same error however the body is cut, the field named,
 * and what fit is kept the same way (the limits are checked per call, not per body). */
static void test_multipart_over_limits(void **state)
{
    (void)state;
    static char body[8192];
    static rq_form f;
    mem_file m;
    const char *ct = "multipart/form-data; boundary=B";
    char big[RQ_FIELD_MAX + 40];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    int n = snprintf(body, sizeof body,
                     "--B\r\nContent-Disposition: form-data; name=\"firmwareName\"\r\n\r\n%s\r\n"
                     "--B--",
                     big);
    for (size_t chunk = 1; chunk <= (size_t)n; chunk += chunk < 16 ? 1 : 97) {
        assert_int_equal(form(ct, body, (size_t)n, chunk, &f, &m), -1);
        assert_int_equal(f.err.status, 422);
        assert_string_equal(f.err.code, "invalid_field");
        assert_string_equal(f.err.field, "firmwareName");
        assert_int_equal(f.field_len[RQ_F_NAME], RQ_FIELD_MAX);
    }
    /* the file: the sink sees exactly the ceiling, then 413 */
    static char file[3000];
    memset(file, 'x', sizeof file);
    n = snprintf(body, sizeof body,
                 "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\n"
                 "%.*s\r\n--B--",
                 (int)sizeof file, file);
    for (size_t chunk = 1; chunk <= (size_t)n; chunk += chunk < 16 ? 1 : 211) {
        assert_int_equal(form_max(ct, body, (size_t)n, chunk, 2048, &f, &m), -1);
        assert_int_equal(f.err.status, 413);
        assert_string_equal(f.err.code, "too_large");
        assert_string_equal(f.err.field, "file");
        assert_int_equal(m.n, 2048);
    }
}

typedef struct {
    long devices;
    rq_error err;
    char last[65];
} imp;

static int on_line(void *ud, const char *line, size_t len, long lineno)
{
    imp *s = ud;
    rq_import_row row;
    int rc = rq_import_line(line, len, lineno, &row, &s->err);
    if (rc == 1) {
        s->devices++;
        memcpy(s->last, row.identifier, sizeof s->last);
    }
    return rc < 0 ? -1 : 0;
}

static void test_import_lines(void **state)
{
    (void)state;
    static const char body[] = "{\"identifier\":\"d1\",\"deviceName\":\"a\"}\r\n\n  \n"
                               "{\"deviceName\":\"b\",\"identifier\":\"d2\"}";
    for (size_t chunk = 1; chunk < sizeof body; chunk++) {
        static rq_lines l;
        imp s = {0};
        memset(&l, 0, sizeof l);
        for (size_t off = 0; off < sizeof body - 1; off += chunk)
            assert_int_equal(
                rq_lines_feed(&l, body + off,
                              sizeof body - 1 - off < chunk ? sizeof body - 1 - off : chunk,
                              on_line, &s, &s.err),
                0);
        assert_int_equal(rq_lines_end(&l, on_line, &s), 0);
        assert_int_equal(s.devices, 2);
        assert_string_equal(s.last, "d2");
    }
    rq_import_row row;
    rq_error e = {0};
    assert_int_equal(
        rq_import_line("{\"identifier\":\"d 1\",\"deviceName\":\"a\"}", 37, 7, &row, &e), -1);
    assert_int_equal(e.status, 422);
    assert_string_equal(e.field, "identifier");
    assert_int_equal(e.line, 7);
}

static void test_json_bodies(void **state)
{
    (void)state;
    rq_error e = {0};
    rq_product p;
    json_t *keep = NULL;
    const char *ok = "{\"productName\":\"Lamp_1\",\"description\":\"x\"}";
    assert_int_equal(rq_product_body(ok, strlen(ok), &keep, &p, &e), 0);
    assert_string_equal(p.name, "Lamp_1");
    json_decref(keep);
    const char *dup = "{\"productName\":\"a\",\"productName\":\"b\"}";
    assert_int_equal(rq_product_body(dup, strlen(dup), &keep, &p, &e), -1);
    assert_string_equal(e.code, "invalid_json");
    json_decref(keep);
    memset(&e, 0, sizeof e);
    rq_device d;
    const char *unknown = "{\"identifier\":\"d1\",\"deviceName\":\"a\",\"x\":1}";
    assert_int_equal(rq_device_body(unknown, strlen(unknown), &keep, &d, &e), -1);
    assert_string_equal(e.code, "unknown_field");
    assert_string_equal(e.field, "x");
    json_decref(keep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart_any_split),
        cmocka_unit_test(test_multipart_refusals),
        cmocka_unit_test(test_multipart_over_limits),
        cmocka_unit_test(test_import_lines),
        cmocka_unit_test(test_json_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
