/*
 * test_pki: the service's CA (common/pki.c) on a temp folder: what the first start writes
 * (files, modes, a server certificate that names what it must and chains to the CA), that a
 * second start changes nothing, that a new name re-issues the server certificate with the
 * same CA, and the device certificate life cycle: issue, list, revoke, the CRL check the
 * broker plugin makes.
 */
#include "ota_pki.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static X509 *load(const char *name)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static X509 *from_pem(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(x);
    return x;
}

static unsigned mode_of(const char *name)
{
    char p[128];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(stat(p, &st), 0);
    return st.st_mode & 0777;
}

static void test_first_start_and_names(void **state)
{
    (void)state;
    char err[256];
    int changed = -1;
    const char *names[] = {"ota.example.com", "192.0.2.10", "0.0.0.0", "bad name"};
    assert_int_equal(ota_pki_ensure(dir, 1, names, 4, &changed, err, sizeof err), 0);
    assert_int_equal(changed, 1);
    assert_int_equal(mode_of(OTA_PKI_CA_KEY), 0600);
    assert_int_equal(mode_of(OTA_PKI_KEY), 0600);
    assert_int_equal(mode_of(OTA_PKI_CA), 0644);
    X509 *ca = load(OTA_PKI_CA), *cert = load(OTA_PKI_CERT);
    assert_int_equal(X509_verify(cert, X509_get0_pubkey(ca)), 1);
    assert_int_equal(X509_check_host(cert, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(cert, "ota.example.com", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(cert, "192.0.2.10", 0), 1);
    assert_int_not_equal(X509_check_ip_asc(cert, "0.0.0.0", 0), 1); /* a wildcard address */
    assert_int_not_equal(X509_check_host(cert, "other.example.com", 0, 0, NULL), 1);
    X509_free(cert);

    /* a second start with the same names writes nothing */
    assert_int_equal(ota_pki_ensure(dir, 1, names, 4, &changed, err, sizeof err), 0);
    assert_int_equal(changed, 0);

    /* a new name: a new server certificate, from the same CA */
    const char *more[] = {"ota.example.com", "ota2.example.com"};
    assert_int_equal(ota_pki_ensure(dir, 1, more, 2, &changed, err, sizeof err), 0);
    assert_int_equal(changed, 1);
    cert = load(OTA_PKI_CERT);
    assert_int_equal(X509_check_host(cert, "ota2.example.com", 0, 0, NULL), 1);
    assert_int_equal(X509_verify(cert, X509_get0_pubkey(ca)), 1);
    X509 *ca2 = load(OTA_PKI_CA);
    assert_int_equal(X509_cmp(ca, ca2), 0);
    X509_free(ca2);
    X509_free(cert);
    X509_free(ca);
}

typedef struct {
    int n, revoked;
    char serial[OTA_PKI_SERIAL_HEX];
} seen;

static void count(const char *serial, const char *cn, time_t not_after, int revoked, void *ud)
{
    seen *s = ud;
    (void)cn;
    assert_true(not_after > time(NULL) + 365L * 86400);
    s->n++;
    s->revoked += revoked;
    snprintf(s->serial, sizeof s->serial, "%s", serial);
}

static void test_device_certificates(void **state)
{
    (void)state;
    char err[256], serial[OTA_PKI_SERIAL_HEX], cn[80];
    char *cert = NULL, *key = NULL;
    time_t na;
    int revoked = -1;
    seen s = {0};
    assert_int_equal(ota_pki_issue_device(dir, "pk1.dev-1", &cert, &key, serial, &na, err,
                                          sizeof err),
                     0);
    assert_non_null(strstr(key, "PRIVATE KEY"));
    X509 *x = from_pem(cert), *ca = load(OTA_PKI_CA);
    assert_int_equal(X509_verify(x, X509_get0_pubkey(ca)), 1);
    assert_int_equal(ota_pki_cert_cn(x, cn, sizeof cn), 0);
    assert_string_equal(cn, "pk1.dev-1");
    assert_int_equal(mode_of(OTA_PKI_ISSUED), 0600);
    assert_int_equal(ota_pki_list_device(dir, "pk1.dev-1", count, &s, err, sizeof err), 1);
    assert_string_equal(s.serial, serial);
    assert_int_equal(s.revoked, 0);
    assert_int_equal(ota_pki_list_device(dir, "pk1.other", count, &s, err, sizeof err), 0);

    /* no CRL yet: not revoked */
    ota_pki_crl crl = {0};
    snprintf(crl.path, sizeof crl.path, "%s/%s", dir, OTA_PKI_CRL);
    assert_int_equal(ota_pki_crl_revoked(&crl, x), 0);
    /* revoked: the CRL is re-read because the file changed */
    assert_int_equal(ota_pki_revoke_device(dir, "pk1.dev-1", &revoked, err, sizeof err), 0);
    assert_int_equal(revoked, 1);
    assert_int_equal(ota_pki_crl_revoked(&crl, x), 1);
    /* twice: nothing new */
    assert_int_equal(ota_pki_revoke_device(dir, "pk1.dev-1", &revoked, err, sizeof err), 0);
    assert_int_equal(revoked, 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(ota_pki_list_device(dir, "pk1.dev-1", count, &s, err, sizeof err), 1);
    assert_int_equal(s.revoked, 1);
    /* a new certificate of the same device is not revoked */
    char *cert2 = NULL, *key2 = NULL;
    assert_int_equal(ota_pki_issue_device(dir, "pk1.dev-1", &cert2, &key2, serial, &na, err,
                                          sizeof err),
                     0);
    X509 *x2 = from_pem(cert2);
    assert_int_equal(ota_pki_crl_revoked(&crl, x2), 0);
    /* an unreadable CRL fails closed */
    FILE *f = fopen(crl.path, "w");
    fputs("not a CRL\n", f);
    fclose(f);
    assert_int_equal(ota_pki_crl_revoked(&crl, x2), -1);
    ota_pki_crl_free(&crl);
    X509_free(x);
    X509_free(x2);
    X509_free(ca);
    free(cert);
    free(key);
    free(cert2);
    free(key2);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ota-pki-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_start_and_names),
        cmocka_unit_test(test_device_certificates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
