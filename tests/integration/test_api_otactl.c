/* Integration: otactl against the real otad — each command once, its output and exit
 * codes (0 ok, 1 error answer, 2 usage); and signed firmware end to end: a key pair made
 * locally (private key 0600, never overwritten), its public half added to the product, a
 * file signed offline and uploaded with the signature (printed and as a .sig file), a
 * signature of other bytes refused, requireSignature refusing an unsigned upload; the
 * webhook commands (the secret read from a file, never printed). */
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

#include <sys/stat.h>
#include <sys/wait.h>

/* Runs otactl with args; stdout into out (json parsed when possible). Returns exit code. */
static int otactl(tapi_ctx *c, const char *args, json_t **json, char *out, size_t outlen)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/tools/otactl/otactl --url %s --token %s %s 2>/dev/null",
             OTA_BUILD_DIR, c->env.base_url, c->env.admin_token, args);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    if (json)
        *json = json_loads(out, 0, NULL);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_otactl(void **st)
{
    tapi_ctx *c = *st;
    static char out[1 << 16];
    char args[1024], pk[16], file[400], dl[400];
    json_t *j;
    assert_int_equal(otactl(c, "health", &j, out, sizeof out), 0);
    json_decref(j);
    assert_int_equal(
        otactl(c, "product create ctl-lamp --description 'via otactl'", &j, out, sizeof out), 0);
    snprintf(pk, sizeof pk, "%s", tapi_jstr(j, "productKey"));
    json_decref(j);
    assert_int_equal(strlen(pk), 11);
    snprintf(args, sizeof args, "product get %s", pk);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 0);
    assert_int_equal(otactl(c, "product list --page-size 5", NULL, out, sizeof out), 0);
    snprintf(args, sizeof args, "device create %s d1 'Device one'", pk);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_int_equal(strlen(tapi_jstr(j, "deviceSecret")), 32);
    json_decref(j);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 1); /* duplicate */
    snprintf(file, sizeof file, "%s/devs.ndjson", c->env.dir);
    FILE *f = fopen(file, "w");
    fputs("{\"identifier\":\"d2\",\"deviceName\":\"Two\"}\n{\"identifier\":\"d3\",\"deviceName\":"
          "\"Three\"}\n",
          f);
    fclose(f);
    snprintf(args, sizeof args, "device import %s %s", pk, file);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "created")), 2);
    json_decref(j);
    snprintf(args, sizeof args, "device list %s --online false", pk);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 3);
    json_decref(j);
    snprintf(args, sizeof args, "device get %s d2", pk);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 0);

    snprintf(file, sizeof file, "%s/fw.bin", c->env.dir);
    f = fopen(file, "w");
    for (int i = 0; i < 100000; i++)
        fputc(i & 0xff, f);
    fclose(f);
    snprintf(args, sizeof args, "firmware add %s --name ctl-fw --product %s --version 1.0", file,
             pk);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    char id[24];
    snprintf(id, sizeof id, "%s", tapi_jstr(j, "firmwareId"));
    assert_int_equal(json_integer_value(json_object_get(j, "firmwareSize")), 100000);
    json_decref(j);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 1); /* duplicate name */
    snprintf(args, sizeof args, "firmware list --product %s", pk);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 0);
    snprintf(args, sizeof args, "firmware get %s", id);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 0);
    snprintf(args, sizeof args, "firmware eligible %s --q d", id);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 0);
    json_decref(j);
    snprintf(dl, sizeof dl, "%s/dl.bin", c->env.dir);
    snprintf(args, sizeof args, "firmware download %s -o %s", id, dl);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 0);
    f = fopen(dl, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    assert_int_equal(ftell(f), 100000);
    fclose(f);
    snprintf(args, sizeof args, "firmware delete %s", id);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 0);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 1);
    assert_int_equal(otactl(c, "no-such-command", NULL, out, sizeof out), 2);
    assert_int_equal(otactl(c, "device create", NULL, out, sizeof out), 2);
}

/* webhook add/set/list/show/deliveries/ping/rm; the secret comes from a file and is never
 * printed */
static void test_otactl_webhooks(void **st)
{
    tapi_ctx *c = *st;
    static char out[1 << 16];
    char args[1024], secret[400], id[24];
    json_t *j;
    snprintf(secret, sizeof secret, "%s/hook.secret", c->env.dir);
    FILE *f = fopen(secret, "w");
    fputs("a-webhook-secret-0123\n", f);
    fclose(f);
    snprintf(args, sizeof args,
             "webhook add http://127.0.0.1:9/h --events batch.created,firmware.deleted "
             "--secret-file %s --group-max 20",
             secret);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_null(strstr(out, "a-webhook-secret"));
    snprintf(id, sizeof id, "%s", tapi_jstr(j, "id"));
    assert_int_equal(json_integer_value(json_object_get(j, "groupMaxEvents")), 20);
    assert_int_equal(json_array_size(json_object_get(j, "events")), 2);
    json_decref(j);
    assert_int_equal(otactl(c, "webhook add http://h/x --events nope --secret-file /dev/null",
                            NULL, out, sizeof out),
                     1);
    assert_int_equal(otactl(c, "webhook add http://h/x", NULL, out, sizeof out), 2);
    snprintf(args, sizeof args, "webhook set %s --disable --events '*'", id);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_true(json_is_false(json_object_get(j, "enabled")));
    json_decref(j);
    assert_int_equal(otactl(c, "webhook list", &j, out, sizeof out), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);
    snprintf(args, sizeof args, "webhook show %s", id);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 0);
    assert_null(strstr(out, "a-webhook-secret"));
    snprintf(args, sizeof args, "webhook ping %s", id);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_true(strlen(tapi_jstr(j, "deliveryId")) > 0);
    json_decref(j);
    snprintf(args, sizeof args, "webhook deliveries %s --limit 5", id);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_non_null(json_object_get(j, "items"));
    json_decref(j);
    snprintf(args, sizeof args, "webhook rm %s", id);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 0);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 1);
}

static void test_otactl_signing(void **st)
{
    tapi_ctx *c = *st;
    static char out[1 << 16];
    char args[2048], pk[16], file[400], sig[128], kid[20];
    json_t *j;
    struct stat sb;
    assert_int_equal(otactl(c, "product create ctl-signed", &j, out, sizeof out), 0);
    snprintf(pk, sizeof pk, "%s", tapi_jstr(j, "productKey"));
    json_decref(j);

    snprintf(args, sizeof args, "key create release --out %s", c->env.dir);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    snprintf(kid, sizeof kid, "%s", tapi_jstr(j, "keyId"));
    json_decref(j);
    snprintf(file, sizeof file, "%s/release.key", c->env.dir);
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 1); /* never over a key */
    snprintf(args, sizeof args, "key add %s --name release --public-key %s/release.pub", pk,
             c->env.dir);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_string_equal(tapi_jstr(j, "keyId"), kid); /* the same id on both sides */
    json_decref(j);
    snprintf(args, sizeof args, "key list %s", pk);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_decref(j);

    snprintf(file, sizeof file, "%s/signed.bin", c->env.dir);
    FILE *f = fopen(file, "w");
    for (int i = 0; i < 5000; i++)
        fputc((i * 7) & 0xff, f);
    fclose(f);
    snprintf(args, sizeof args,
             "firmware sign %s --key %s/release.key --product %s --version 1.0", file,
             c->env.dir, pk);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 0);
    assert_int_equal(strlen(out), 89); /* 88 base64 characters and a newline */
    snprintf(sig, sizeof sig, "%.88s", out);
    snprintf(args, sizeof args,
             "firmware add %s --name ctl-signed-1 --product %s --version 1.0 --signature %s",
             file, pk, sig);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_true(json_is_true(json_object_get(j, "signed")));
    assert_string_equal(tapi_jstr(j, "keyId"), kid);
    json_decref(j);
    /* the same signature for another version: not what was signed */
    snprintf(args, sizeof args,
             "firmware add %s --name ctl-signed-2 --product %s --version 2.0 --signature %s",
             file, pk, sig);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 1);
    /* a .sig file */
    snprintf(args, sizeof args,
             "firmware sign %s --key %s/release.key --product %s --version 2.0 --out %s/v2.sig",
             file, c->env.dir, pk, c->env.dir);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 0);
    snprintf(args, sizeof args,
             "firmware add %s --name ctl-signed-2 --product %s --version 2.0 --signature @%s/v2.sig",
             file, pk, c->env.dir);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_true(json_is_true(json_object_get(j, "signed")));
    json_decref(j);
    /* requireSignature: an unsigned upload is refused */
    snprintf(args, sizeof args, "product require-signature %s true", pk);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_true(json_is_true(json_object_get(j, "requireSignature")));
    json_decref(j);
    snprintf(args, sizeof args, "firmware add %s --name ctl-unsigned --product %s --version 3.0",
             file, pk);
    assert_int_equal(otactl(c, args, NULL, out, sizeof out), 1);
    snprintf(args, sizeof args, "key retire %s %s", pk, kid);
    assert_int_equal(otactl(c, args, &j, out, sizeof out), 0);
    assert_true(json_is_true(json_object_get(j, "retired")));
    json_decref(j);
    assert_int_equal(otactl(c, "firmware sign", NULL, out, sizeof out), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_otactl), cmocka_unit_test(test_otactl_webhooks),
                                       cmocka_unit_test(test_otactl_signing)};
    return cmocka_run_group_tests(tests, tapi_setup, tapi_teardown);
}
