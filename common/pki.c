/*
 * pki: the service's certificate authority (see ota_pki.h for the files and their modes).
 * Used by otad at start (CA and server certificate), by otad's device-certificate routes
 * (issue, list, revoke) and by the broker plugin (CRL check at each certificate login).
 * Load: a handful of key generations at first start; one signature per device certificate
 * issued; one stat() per certificate login and a CRL parse when the file changed.
 */
#include "ota_pki.h"

#include "ota_crypto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_CAP 1200
#define RENEW_BEFORE (30L * 86400)

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    char ossl[160] = "";
    unsigned long e = ERR_get_error();
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (e) {
        ERR_error_string_n(e, ossl, sizeof ossl);
        size_t l = strlen(err);
        if (l < errlen)
            snprintf(err + l, errlen - l, " (%s)", ossl);
    }
    ERR_clear_error();
    return -1;
}

int ota_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    char tmp[PATH_CAP + 32];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return -1;
    int ok = write(fd, data, len) == (ssize_t)len && fchmod(fd, (mode_t)mode) == 0 &&
             fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        e = ok ? errno : e;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

static void join(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static X509 *load_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return x;
}

static EVP_PKEY *load_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

/* The PEM text of a certificate or a key, malloc'd. NULL on failure. */
static char *to_pem(X509 *x, EVP_PKEY *k, X509_CRL *crl)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long n;
    int ok;
    if (!b)
        return NULL;
    if (x)
        ok = PEM_write_bio_X509(b, x);
    else if (k)
        ok = PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    else
        ok = PEM_write_bio_X509_CRL(b, crl);
    n = BIO_get_mem_data(b, &data);
    if (ok && n > 0 && (out = malloc((size_t)n + 1)) != NULL) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(b);
    return out;
}

/* A name fit for a subjectAltName list: letters, digits, '.', '-', ':' (IPv6), 1..253. */
static int name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 254 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") == n;
}

static int is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

int ota_pki_issue(const char *ca_cert, const char *ca_key, const char *cn,
                  const char *const *names, size_t n_names, int client, long not_before,
                  long days, char **cert_pem, char **key_pem, char *serial, char *err,
                  size_t errlen)
{
    int rc = -1, is_ca = !ca_cert && !ca_key;
    X509 *x = NULL, *issuer = NULL;
    EVP_PKEY *key = NULL, *ikey = NULL;
    BIGNUM *bn = NULL;
    char *hex = NULL, san[OTA_PKI_MAX_NAMES * 260 + 16];
    unsigned char rnd[16];
    X509V3_CTX ctx;
    *cert_pem = *key_pem = NULL;
    if (!cn || !*cn || strlen(cn) > 64)
        return fail(err, errlen, "a certificate needs a common name of 1..64 characters");
    if (!is_ca) {
        issuer = load_cert(ca_cert);
        ikey = load_key(ca_key);
        if (!issuer || !ikey) {
            fail(err, errlen, "cannot read the CA (%s, %s)", ca_cert, ca_key);
            goto out;
        }
    }
    key = EVP_EC_gen("P-256");
    x = X509_new();
    if (!key || !x || ota_random_bytes(rnd, sizeof rnd) != 0) {
        fail(err, errlen, "cannot make a key");
        goto out;
    }
    rnd[0] &= 0x7f; /* a positive serial */
    rnd[0] |= 0x01; /* of a fixed length */
    bn = BN_bin2bn(rnd, sizeof rnd, NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), not_before) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), not_before + days * 86400L) ||
        !X509_set_pubkey(x, key) ||
        !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                    (const unsigned char *)cn, -1, -1, 0) ||
        !X509_set_issuer_name(x, is_ca ? X509_get_subject_name(x)
                                       : X509_get_subject_name(issuer))) {
        fail(err, errlen, "cannot fill the certificate");
        goto out;
    }
    X509V3_set_ctx(&ctx, is_ca ? x : issuer, x, NULL, NULL, 0);
    if (is_ca) {
        if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
            add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") ||
            add_ext(x, &ctx, NID_subject_key_identifier, "hash")) {
            fail(err, errlen, "cannot add the CA extensions");
            goto out;
        }
    } else {
        size_t o = 0;
        san[0] = '\0';
        for (size_t i = 0; i < n_names && i < OTA_PKI_MAX_NAMES; i++) {
            if (!name_ok(names[i]))
                continue;
            o += (size_t)snprintf(san + o, sizeof san - o, "%s%s:%s", o ? "," : "",
                                  is_ip(names[i]) ? "IP" : "DNS", names[i]);
        }
        if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
            add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") ||
            add_ext(x, &ctx, NID_ext_key_usage, client ? "clientAuth" : "serverAuth") ||
            add_ext(x, &ctx, NID_authority_key_identifier, "keyid") ||
            (o && add_ext(x, &ctx, NID_subject_alt_name, san))) {
            fail(err, errlen, "cannot add the certificate's extensions");
            goto out;
        }
    }
    if (!X509_sign(x, is_ca ? key : ikey, EVP_sha256())) {
        fail(err, errlen, "cannot sign the certificate");
        goto out;
    }
    hex = BN_bn2hex(bn);
    *cert_pem = to_pem(x, NULL, NULL);
    *key_pem = to_pem(NULL, key, NULL);
    if (!hex || !*cert_pem || !*key_pem || strlen(hex) >= OTA_PKI_SERIAL_HEX) {
        free(*cert_pem);
        free(*key_pem);
        *cert_pem = *key_pem = NULL;
        fail(err, errlen, "out of memory");
        goto out;
    }
    for (char *p = hex; *p; p++) /* lower case, as the rest of the project writes hex */
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    snprintf(serial, OTA_PKI_SERIAL_HEX, "%s", hex);
    rc = 0;
out:
    OPENSSL_free(hex);
    BN_free(bn);
    X509_free(x);
    X509_free(issuer);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ikey);
    return rc;
}

/* Writes a certificate and its key as dir/cert_name and dir/key_name (0644 / 0600). */
static int write_pair(const char *dir, const char *cert_name, const char *key_name,
                      const char *cert, const char *key, char *err, size_t errlen)
{
    char p[PATH_CAP];
    join(p, sizeof p, dir, key_name);
    if (ota_write_file_atomic(p, key, strlen(key), 0600) != 0)
        return fail(err, errlen, "cannot write %s: %s", p, strerror(errno));
    join(p, sizeof p, dir, cert_name);
    if (ota_write_file_atomic(p, cert, strlen(cert), 0644) != 0)
        return fail(err, errlen, "cannot write %s: %s", p, strerror(errno));
    return 0;
}

/* 1 when the server certificate in dir is signed by ca, lives 30 more days and names
 * every one of names. */
static int server_cert_fits(const char *dir, X509 *ca, const char *const *names, size_t n)
{
    char p[PATH_CAP];
    int ok = 0;
    join(p, sizeof p, dir, OTA_PKI_CERT);
    X509 *x = load_cert(p);
    join(p, sizeof p, dir, OTA_PKI_KEY);
    EVP_PKEY *k = load_key(p);
    EVP_PKEY *capub = X509_get0_pubkey(ca);
    time_t soon = time(NULL) + RENEW_BEFORE;
    if (!x || !k || !capub || X509_verify(x, capub) != 1 || X509_check_private_key(x, k) != 1 ||
        X509_cmp_time(X509_get0_notAfter(x), &soon) <= 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!name_ok(names[i]))
            continue;
        int hit = is_ip(names[i]) ? X509_check_ip_asc(x, names[i], 0)
                                  : X509_check_host(x, names[i], 0, 0, NULL);
        if (hit != 1)
            goto out;
    }
    ok = 1;
out:
    X509_free(x);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return ok;
}

int ota_pki_ensure(const char *dir, int server, const char *const *names, size_t n_names,
                   int *changed, char *err, size_t errlen)
{
    char ca_p[PATH_CAP], cakey_p[PATH_CAP], serial[OTA_PKI_SERIAL_HEX];
    char *cert = NULL, *key = NULL;
    const char *all[OTA_PKI_MAX_NAMES];
    size_t n = 0;
    X509 *ca;
    int rc = -1;
    *changed = 0;
    join(ca_p, sizeof ca_p, dir, OTA_PKI_CA);
    join(cakey_p, sizeof cakey_p, dir, OTA_PKI_CA_KEY);
    if (access(ca_p, F_OK) != 0 || access(cakey_p, F_OK) != 0) {
        if (ota_pki_issue(NULL, NULL, "OTA service CA", NULL, 0, 0, -3600, OTA_PKI_CA_DAYS, &cert,
                          &key, serial, err, errlen) != 0)
            return -1;
        rc = write_pair(dir, OTA_PKI_CA, OTA_PKI_CA_KEY, cert, key, err, errlen);
        free(cert);
        free(key);
        cert = key = NULL;
        if (rc != 0)
            return -1;
        *changed = 1;
    }
    ca = load_cert(ca_p);
    if (!ca)
        return fail(err, errlen, "cannot read %s", ca_p);
    all[n++] = "localhost";
    all[n++] = "127.0.0.1";
    all[n++] = "::1";
    for (size_t i = 0; i < n_names && n < OTA_PKI_MAX_NAMES; i++) {
        int dup = !name_ok(names[i]) || strcmp(names[i], "0.0.0.0") == 0 ||
                  strcmp(names[i], "::") == 0;
        for (size_t j = 0; j < n && !dup; j++)
            dup = strcasecmp(all[j], names[i]) == 0;
        if (!dup)
            all[n++] = names[i];
    }
    rc = 0;
    if (server && (*changed || !server_cert_fits(dir, ca, all, n))) {
        rc = ota_pki_issue(ca_p, cakey_p, all[n > 3 ? 3 : 0], all, n, 0, -3600,
                           OTA_PKI_SERVER_DAYS, &cert, &key, serial, err, errlen);
        if (rc == 0)
            rc = write_pair(dir, OTA_PKI_CERT, OTA_PKI_KEY, cert, key, err, errlen);
        if (rc == 0)
            *changed = 1;
    }
    free(cert);
    free(key);
    X509_free(ca);
    return rc;
}

int ota_pki_issue_device(const char *dir, const char *cn, char **cert_pem, char **key_pem,
                         char *serial, time_t *not_after, char *err, size_t errlen)
{
    char ca_p[PATH_CAP], cakey_p[PATH_CAP], log_p[PATH_CAP], line[160];
    const char *names[1] = {cn};
    join(ca_p, sizeof ca_p, dir, OTA_PKI_CA);
    join(cakey_p, sizeof cakey_p, dir, OTA_PKI_CA_KEY);
    join(log_p, sizeof log_p, dir, OTA_PKI_ISSUED);
    /* the CN is also a DNS-style SAN only when it is one; devices are named by the CN */
    if (ota_pki_issue(ca_p, cakey_p, cn, names, 0, 1, -300, OTA_PKI_DEVICE_DAYS, cert_pem,
                      key_pem, serial, err, errlen) != 0)
        return -1;
    *not_after = time(NULL) - 300 + OTA_PKI_DEVICE_DAYS * 86400L;
    int n = snprintf(line, sizeof line, "%s %s %lld\n", serial, cn, (long long)*not_after);
    int fd = open(log_p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int ok = fd >= 0 && n > 0 && n < (int)sizeof line && write(fd, line, (size_t)n) == n &&
             fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok) {
        free(*cert_pem);
        free(*key_pem);
        *cert_pem = *key_pem = NULL;
        return fail(err, errlen, "cannot record the certificate in %s: %s", log_p,
                    strerror(errno));
    }
    return 0;
}

static X509_CRL *load_crl(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    X509_CRL *c = PEM_read_X509_CRL(f, NULL, NULL, NULL);
    fclose(f);
    return c;
}

static int serial_revoked(X509_CRL *crl, const char *serial_hex)
{
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    X509_REVOKED *rev = NULL;
    int hit = 0;
    if (crl && BN_hex2bn(&bn, serial_hex) && (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL)
        hit = X509_CRL_get0_by_serial(crl, &rev, ai) == 1;
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return hit;
}

int ota_pki_list_device(const char *dir, const char *cn, ota_pki_cert_fn fn, void *ud, char *err,
                        size_t errlen)
{
    char log_p[PATH_CAP], crl_p[PATH_CAP], line[256], serial[80], lcn[160];
    long long na;
    int count = 0;
    join(log_p, sizeof log_p, dir, OTA_PKI_ISSUED);
    join(crl_p, sizeof crl_p, dir, OTA_PKI_CRL);
    FILE *f = fopen(log_p, "r");
    if (!f)
        return errno == ENOENT ? 0 : fail(err, errlen, "cannot read %s: %s", log_p, strerror(errno));
    X509_CRL *crl = load_crl(crl_p);
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%79s %159s %lld", serial, lcn, &na) != 3)
            continue;
        if (cn && strcmp(cn, lcn) != 0)
            continue;
        count++;
        if (fn)
            fn(serial, lcn, (time_t)na, serial_revoked(crl, serial), ud);
    }
    fclose(f);
    X509_CRL_free(crl);
    ERR_clear_error();
    return count;
}

typedef struct {
    X509_CRL *crl;
    int added, failed;
} revoke_ctx;

static void revoke_one(const char *serial, const char *cn, time_t not_after, int revoked,
                       void *ud)
{
    revoke_ctx *rc = ud;
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    ASN1_TIME *when = NULL;
    X509_REVOKED *r = NULL;
    (void)cn;
    (void)not_after;
    if (revoked)
        return;
    if (!BN_hex2bn(&bn, serial) || !(ai = BN_to_ASN1_INTEGER(bn, NULL)) ||
        !(when = X509_gmtime_adj(NULL, 0)) || !(r = X509_REVOKED_new()) ||
        !X509_REVOKED_set_serialNumber(r, ai) || !X509_REVOKED_set_revocationDate(r, when) ||
        !X509_CRL_add0_revoked(rc->crl, r)) {
        X509_REVOKED_free(r);
        rc->failed = 1;
    } else {
        rc->added++;
    }
    ASN1_TIME_free(when);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
}

int ota_pki_revoke_device(const char *dir, const char *cn, int *revoked, char *err,
                          size_t errlen)
{
    char ca_p[PATH_CAP], cakey_p[PATH_CAP], crl_p[PATH_CAP];
    revoke_ctx rc = {0};
    X509 *ca = NULL;
    EVP_PKEY *cakey = NULL;
    ASN1_TIME *t = NULL;
    char *pem = NULL;
    int ret = -1;
    *revoked = 0;
    join(ca_p, sizeof ca_p, dir, OTA_PKI_CA);
    join(cakey_p, sizeof cakey_p, dir, OTA_PKI_CA_KEY);
    join(crl_p, sizeof crl_p, dir, OTA_PKI_CRL);
    ca = load_cert(ca_p);
    cakey = load_key(cakey_p);
    if (!ca || !cakey) {
        fail(err, errlen, "cannot read the CA (%s, %s)", ca_p, cakey_p);
        goto out;
    }
    rc.crl = load_crl(crl_p);
    if (!rc.crl) {
        if (access(crl_p, F_OK) == 0) {
            fail(err, errlen, "cannot read %s", crl_p);
            goto out;
        }
        rc.crl = X509_CRL_new();
        if (!rc.crl || !X509_CRL_set_version(rc.crl, 1) ||
            !X509_CRL_set_issuer_name(rc.crl, X509_get_subject_name(ca))) {
            fail(err, errlen, "cannot make a CRL");
            goto out;
        }
    }
    if (ota_pki_list_device(dir, cn, revoke_one, &rc, err, errlen) < 0)
        goto out;
    if (rc.failed) {
        fail(err, errlen, "cannot add a serial to the CRL");
        goto out;
    }
    *revoked = rc.added;
    if (rc.added == 0) {
        ret = 0;
        goto out;
    }
    t = X509_gmtime_adj(NULL, 0);
    if (!t || !X509_CRL_set1_lastUpdate(rc.crl, t) ||
        !X509_gmtime_adj(t, OTA_PKI_CA_DAYS * 86400L) || !X509_CRL_set1_nextUpdate(rc.crl, t) ||
        !X509_CRL_sort(rc.crl) || !X509_CRL_sign(rc.crl, cakey, EVP_sha256()) ||
        !(pem = to_pem(NULL, NULL, rc.crl))) {
        fail(err, errlen, "cannot sign the CRL");
        goto out;
    }
    if (ota_write_file_atomic(crl_p, pem, strlen(pem), 0644) != 0) {
        fail(err, errlen, "cannot write %s: %s", crl_p, strerror(errno));
        goto out;
    }
    ret = 0;
out:
    free(pem);
    ASN1_TIME_free(t);
    X509_CRL_free(rc.crl);
    X509_free(ca);
    EVP_PKEY_free(cakey);
    return ret;
}

int ota_pki_crl_revoked(ota_pki_crl *c, const void *cert)
{
    struct stat st;
    X509_REVOKED *rev = NULL;
    if (stat(c->path, &st) != 0) {
        if (errno != ENOENT)
            return -1;
        X509_CRL_free(c->crl);
        c->crl = NULL;
        memset(&c->mtime, 0, sizeof c->mtime);
        return 0;
    }
    if (!c->crl || st.st_mtim.tv_sec != c->mtime.tv_sec ||
        st.st_mtim.tv_nsec != c->mtime.tv_nsec || st.st_size != c->size) {
        X509_CRL *fresh = load_crl(c->path);
        if (!fresh) {
            ERR_clear_error();
            return -1;
        }
        X509_CRL_free(c->crl);
        c->crl = fresh;
        c->mtime = st.st_mtim;
        c->size = st.st_size;
    }
    return X509_CRL_get0_by_cert(c->crl, &rev, (X509 *)cert) == 1;
}

void ota_pki_crl_free(ota_pki_crl *c)
{
    if (!c)
        return;
    X509_CRL_free(c->crl);
    c->crl = NULL;
}

int ota_pki_cert_cn(const void *cert, char *out, size_t outlen)
{
    X509_NAME *n = X509_get_subject_name((const X509 *)cert);
    int len = n ? X509_NAME_get_text_by_NID(n, NID_commonName, out, (int)outlen) : -1;
    if (len <= 0 || (size_t)len >= outlen || strlen(out) != (size_t)len)
        return -1;
    for (int i = 0; i < len; i++)
        if (out[i] < 0x21 || out[i] > 0x7e)
            return -1;
    return 0;
}
