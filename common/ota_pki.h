/*
 * ota_pki: the service's own certificate authority on OpenSSL 3: a private CA, the server
 * certificate the broker's TLS listeners and otad's HTTPS listener present, device
 * (client) certificates with CN "{productKey}.{identifier}", and the revocation list
 * (CRL) the broker plugin checks at each certificate login. Keys are ECDSA P-256 (cheap
 * handshakes for fleets); certificates are signed with SHA-256.
 *
 * Files in the keys folder ($OTA_DATA_DIR/keys, docs/security.md):
 *   ca.pem          the CA certificate devices trust (0644)
 *   ca-key.pem      the CA's private key (0600)
 *   tls-cert.pem    the server certificate, signed by the CA (0644)
 *   tls-key.pem     its private key (0600)
 *   crl.pem         revoked device certificates, signed by the CA (0644)
 *   device-certs.txt  one line per issued device certificate: "serial cn notAfter" (0600)
 * Every file is written to a temporary name, fsynced and renamed. No state; each call
 * reads what it needs. Errors are returned as -1 with one line in err.
 */
#ifndef OTA_PKI_H
#define OTA_PKI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define OTA_PKI_CA "ca.pem"
#define OTA_PKI_CA_KEY "ca-key.pem"
#define OTA_PKI_CERT "tls-cert.pem"
#define OTA_PKI_KEY "tls-key.pem"
#define OTA_PKI_CRL "crl.pem"
#define OTA_PKI_ISSUED "device-certs.txt"

#define OTA_PKI_SERIAL_HEX 33   /* 16 random bytes as hex, and NUL */
#define OTA_PKI_MAX_NAMES 16    /* subject alternative names of the server certificate */
#define OTA_PKI_SERVER_DAYS 825 /* a server certificate's life; re-issued 30 days before */
#define OTA_PKI_CA_DAYS 3650
#define OTA_PKI_DEVICE_DAYS 3650

/* Writes len bytes to path through path.tmp.<pid> (mode), fsync, rename.
 * Returns 0, or -1 (errno kept, nothing left behind). */
int ota_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* Makes sure dir holds a CA (ca.pem, ca-key.pem; made when either is missing) and, when
 * server is set, a server certificate (tls-cert.pem, tls-key.pem) signed by it, valid for 30 more days and naming
 * every one of names (host names or IP addresses; "" and wildcard addresses are skipped,
 * localhost, 127.0.0.1 and ::1 are always added); it is issued again otherwise.
 * *changed is set to 1 when a file was written. Returns 0, or -1 with err. */
int ota_pki_ensure(const char *dir, int server, const char *const *names, size_t n_names,
                   int *changed, char *err, size_t errlen);

/* One certificate signed by the CA in ca_cert/ca_key (PEM files), or a self-signed CA when
 * both are NULL. cn: subject common name (printable ASCII); names: subject alternative
 * names (NULL/0 for none); client: 1 = TLS client use, 0 = TLS server use (ignored for a
 * CA); not_before: seconds from now (negative = in the past), days: life from not_before.
 * On success *cert_pem and *key_pem are malloc'd NUL-terminated PEM texts (the caller
 * frees them) and serial (>= OTA_PKI_SERIAL_HEX) holds the serial in hex.
 * Returns 0, or -1 with err (nothing allocated). */
int ota_pki_issue(const char *ca_cert, const char *ca_key, const char *cn,
                  const char *const *names, size_t n_names, int client, long not_before,
                  long days, char **cert_pem, char **key_pem, char *serial, char *err,
                  size_t errlen);

/* Issues a device certificate for cn ("{productKey}.{identifier}") with dir's CA and
 * appends it to dir/device-certs.txt. Outputs as ota_pki_issue; *not_after is its end
 * (seconds since the epoch). Not thread-safe for one dir: callers serialise. */
int ota_pki_issue_device(const char *dir, const char *cn, char **cert_pem, char **key_pem,
                         char *serial, time_t *not_after, char *err, size_t errlen);

/* Calls fn for every device certificate of cn issued from dir (cn NULL = all), with its
 * serial, notAfter and whether dir/crl.pem revokes it. Returns the number of certificates
 * seen, or -1 with err. */
typedef void (*ota_pki_cert_fn)(const char *serial, const char *cn, time_t not_after,
                                int revoked, void *ud);
int ota_pki_list_device(const char *dir, const char *cn, ota_pki_cert_fn fn, void *ud, char *err,
                        size_t errlen);

/* Revokes every device certificate of cn: writes a new dir/crl.pem (signed by the CA) that
 * adds them to the ones revoked before. *revoked is the number newly revoked.
 * Not thread-safe for one dir: callers serialise. Returns 0, or -1 with err. */
int ota_pki_revoke_device(const char *dir, const char *cn, int *revoked, char *err,
                          size_t errlen);

/* The revocation list as the broker plugin keeps it: reloaded when the file changes. */
typedef struct {
    char path[1024];
    struct timespec mtime; /* of the loaded file; 0 when none */
    off_t size;
    void *crl; /* X509_CRL *, or NULL when there is no file */
} ota_pki_crl;

/* 1 when the certificate cert (an X509 *) is revoked by the CRL at c->path (re-read first
 * when the file changed since the last call), 0 when not, -1 when the file exists but
 * cannot be read (callers refuse: fail closed). */
int ota_pki_crl_revoked(ota_pki_crl *c, const void *cert);
void ota_pki_crl_free(ota_pki_crl *c);

/* The subject CN of cert (an X509 *) into out (NUL-terminated, printable ASCII only).
 * Returns 0, or -1 when it has none, it is too long or not printable. */
int ota_pki_cert_cn(const void *cert, char *out, size_t outlen);

#endif
