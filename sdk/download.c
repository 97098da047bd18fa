/*
 * download: streams the current job's image from its URL into the flash writer, feeding
 * MD5 and SHA-256 as the bytes pass, and makes it final only when the size and both
 * digests match. The resume point is the number of bytes that are written to flash AND
 * hashed: after a broken connection the next GET asks "Range: bytes=<that>-"; after a
 * restart the flash writer says how many bytes of the same image it kept, the SDK re-reads
 * them through the work buffer to rebuild the digest states, and resumes after them.
 * A server that ignores Range (200) restarts the image at byte 0 with fresh digests.
 *
 * Each failure is reported once with its progress step: -2 download (network after
 * download_retries reconnections without progress, HTTP error status), -3 verify (size,
 * MD5, SHA-256), -4 flash (open, write, finalize), -1 anything else (digest provider).
 * Load: one chunk callback per network read (typically 1-16 KiB), one progress message
 * every progress_every percent.
 */
#include "sdk_internal.h"

#include <stdio.h>
#include <string.h>

static void digests_free(otasdk_ctx *c)
{
    if (c->dl.md5)
        c->cfg.digest.free(c->cfg.digest.user, c->dl.md5);
    if (c->dl.sha)
        c->cfg.digest.free(c->cfg.digest.user, c->dl.sha);
    c->dl.md5 = c->dl.sha = NULL;
}

static int digests_begin(otasdk_ctx *c)
{
    digests_free(c);
    if (c->cfg.digest.begin(c->cfg.digest.user, OTASDK_MD5, &c->dl.md5) != 0) {
        c->dl.md5 = NULL;
        return OTASDK_ERR_DIGEST;
    }
    if (c->cfg.digest.begin(c->cfg.digest.user, OTASDK_SHA256, &c->dl.sha) != 0) {
        c->dl.sha = NULL;
        digests_free(c);
        return OTASDK_ERR_DIGEST;
    }
    return OTASDK_OK;
}

static int digests_update(otasdk_ctx *c, const void *data, size_t len)
{
    if (c->cfg.digest.update(c->cfg.digest.user, c->dl.md5, data, len) != 0 ||
        c->cfg.digest.update(c->cfg.digest.user, c->dl.sha, data, len) != 0)
        return OTASDK_ERR_DIGEST;
    return OTASDK_OK;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static unsigned percent(uint64_t done, uint64_t size)
{
    return size ? (unsigned)((done * 100) / size) : 0;
}

static void report_progress(otasdk_ctx *c)
{
    char desc[48];
    unsigned pct = percent(c->dl.offset, c->job.size);
    if (pct >= 100)
        pct = 99; /* 100 is reported once the image is verified */
    if (pct < c->dl.last_pct + c->cfg.progress_every || pct == 0)
        return;
    c->dl.last_pct = pct;
    snprintf(desc, sizeof desc, "downloading %u%%", pct);
    sdk__send_progress(c, (int)pct, desc);
    sdk__emit(c, OTASDK_EV_PROGRESS, (int)pct, OTASDK_OK, c->dl.offset, NULL);
}

/* The http sink: accepts a chunk at the resume point, writes it, hashes it. */
static int sink(void *arg, uint64_t offset, const void *data, size_t len)
{
    otasdk_ctx *c = arg;
    if (c->stop) {
        c->dl.err = OTASDK_ERR_ABORTED;
        return 1;
    }
    if (len == 0)
        return 0;
    if (offset != c->dl.offset) {
        if (offset != 0) { /* a range we did not ask for: drop this connection */
            sdk__log(c, OTASDK_LOG_WARN, "server sent bytes from %llu, expected %llu",
                     (unsigned long long)offset, (unsigned long long)c->dl.offset);
            c->dl.err = OTASDK_ERR_NET;
            return 1;
        }
        sdk__log(c, OTASDK_LOG_INFO, "server ignored Range; restarting at byte 0");
        if (digests_begin(c) != OTASDK_OK) {
            c->dl.err = OTASDK_ERR_DIGEST;
            return 1;
        }
        c->dl.offset = 0;
        c->dl.last_pct = 0;
    }
    if (c->dl.offset + len > c->job.size) {
        c->dl.err = OTASDK_ERR_VERIFY;
        return 1;
    }
    if (c->cfg.flash.write(c->cfg.flash.user, offset, data, len) != 0) {
        c->dl.err = OTASDK_ERR_FLASH;
        return 1;
    }
    if (digests_update(c, data, len) != OTASDK_OK) {
        c->dl.err = OTASDK_ERR_DIGEST;
        return 1;
    }
    c->dl.offset += len;
    report_progress(c);
    return 0;
}

/* Re-feeds the digests with the have bytes the flash kept. OTASDK_OK, or an error after
 * which the caller restarts from 0. */
static int rehash(otasdk_ctx *c, uint64_t have)
{
    uint64_t off = 0;
    if (!c->cfg.flash.read)
        return OTASDK_ERR_FLASH;
    while (off < have) {
        size_t n = c->cfg.work_buf_size;
        if (have - off < n)
            n = (size_t)(have - off);
        if (c->cfg.flash.read(c->cfg.flash.user, off, c->work, n) != 0)
            return OTASDK_ERR_FLASH;
        if (digests_update(c, c->work, n) != OTASDK_OK)
            return OTASDK_ERR_DIGEST;
        off += n;
    }
    return OTASDK_OK;
}

/* Ends the download: reports step with desc, keeps (close) or drops (discard) staging. */
static int failed(otasdk_ctx *c, int err, int step, int keep, const char *desc)
{
    digests_free(c);
    if (keep)
        c->cfg.flash.close(c->cfg.flash.user);
    else
        c->cfg.flash.discard(c->cfg.flash.user);
    if (err == OTASDK_ERR_ABORTED)
        return err;
    sdk__log(c, OTASDK_LOG_ERROR, "upgrade to %s failed (step %d): %s", c->job.version, step, desc);
    sdk__send_progress(c, step, desc);
    sdk__emit(c, OTASDK_EV_FAILED, step, err, c->dl.offset, desc);
    return err;
}

/* Size, then SHA-256 (the stronger digest, and the one a signed manifest names), then MD5. */
static int verify(otasdk_ctx *c, char *desc, size_t cap)
{
    unsigned char md5[16], sha[32];
    char got[65];
    int rc = OTASDK_OK;
    if (c->dl.offset != c->job.size) {
        snprintf(desc, cap, "size mismatch: got %llu bytes, expected %llu",
                 (unsigned long long)c->dl.offset, (unsigned long long)c->job.size);
        return OTASDK_ERR_VERIFY;
    }
    if (c->cfg.digest.finish(c->cfg.digest.user, c->dl.md5, md5, 16) != 0)
        rc = OTASDK_ERR_DIGEST;
    c->dl.md5 = NULL;
    if (c->cfg.digest.finish(c->cfg.digest.user, c->dl.sha, sha, 32) != 0)
        rc = OTASDK_ERR_DIGEST;
    c->dl.sha = NULL;
    if (rc == OTASDK_OK && c->job.sha256[0]) {
        hex(sha, 32, got);
        if (strcmp(got, c->job.sha256) != 0) {
            snprintf(desc, cap, "sha256 mismatch: got %.16s..., expected %.16s...", got,
                     c->job.sha256);
            rc = OTASDK_ERR_VERIFY;
        }
    }
    if (rc == OTASDK_OK) {
        hex(md5, 16, got);
        if (strcmp(got, c->job.md5) != 0) {
            snprintf(desc, cap, "md5 mismatch: got %s, expected %s", got, c->job.md5);
            rc = OTASDK_ERR_VERIFY;
        }
    }
    if (rc == OTASDK_ERR_DIGEST)
        snprintf(desc, cap, "digest provider failed");
    return rc;
}

int sdk__download(otasdk_ctx *c)
{
    char desc[OTASDK_DESC_MAX + 1];
    uint64_t have = 0;
    unsigned fails = 0;
    uint32_t delay = c->cfg.retry_delay_ms;
    int rc;

    memset(&c->dl, 0, sizeof c->dl);
    if (sdk__check_signature(c, desc, sizeof desc) != 0) {
        sdk__log(c, OTASDK_LOG_ERROR, "upgrade to %s refused: %s", c->job.version, desc);
        sdk__send_progress(c, OTASDK_STEP_VERIFY_FAILED, desc);
        sdk__emit(c, OTASDK_EV_FAILED, OTASDK_STEP_VERIFY_FAILED, OTASDK_ERR_VERIFY, 0, desc);
        return OTASDK_ERR_VERIFY;
    }
    if (c->cfg.flash.open(c->cfg.flash.user, &c->job, &have) != 0) {
        sdk__log(c, OTASDK_LOG_ERROR, "flash open failed");
        sdk__send_progress(c, OTASDK_STEP_FLASH_FAILED, "flash open failed");
        sdk__emit(c, OTASDK_EV_FAILED, OTASDK_STEP_FLASH_FAILED, OTASDK_ERR_FLASH, 0,
                  "flash open failed");
        return OTASDK_ERR_FLASH;
    }
    if (digests_begin(c) != OTASDK_OK)
        return failed(c, OTASDK_ERR_DIGEST, OTASDK_STEP_FAILED, 1, "digest provider failed");
    if (have > c->job.size)
        have = 0;
    if (have > 0 && (rc = rehash(c, have)) != OTASDK_OK) {
        sdk__log(c, OTASDK_LOG_WARN, "cannot re-read %llu staged bytes (%s); restarting at 0",
                 (unsigned long long)have, otasdk_strerror(rc));
        have = 0;
        if (digests_begin(c) != OTASDK_OK)
            return failed(c, OTASDK_ERR_DIGEST, OTASDK_STEP_FAILED, 1, "digest provider failed");
    }
    c->dl.offset = have;
    {
        unsigned pct = percent(have, c->job.size);
        if (pct < 1)
            pct = 1;
        if (pct > 99)
            pct = 99;
        c->dl.last_pct = pct;
        snprintf(desc, sizeof desc, have ? "download resumed at byte %llu" : "download started",
                 (unsigned long long)have);
        sdk__log(c, OTASDK_LOG_INFO, "%s: %s from %s", desc, c->job.version, c->job.url);
        sdk__send_progress(c, (int)pct, desc);
        sdk__emit(c, OTASDK_EV_DOWNLOAD_STARTED, (int)pct, OTASDK_OK, have, desc);
    }

    while (c->dl.offset < c->job.size) {
        uint64_t before = c->dl.offset;
        if (c->stop)
            return failed(c, OTASDK_ERR_ABORTED, 0, 1, "");
        c->dl.err = OTASDK_OK;
        rc = c->cfg.http.get(c->cfg.http.user, c->job.url, c->dl.offset, sink, c);
        if (c->dl.err == OTASDK_ERR_ABORTED || (rc == OTASDK_ERR_ABORTED && c->stop))
            return failed(c, OTASDK_ERR_ABORTED, 0, 1, "");
        if (c->dl.err == OTASDK_ERR_FLASH)
            return failed(c, OTASDK_ERR_FLASH, OTASDK_STEP_FLASH_FAILED, 0, "flash write failed");
        if (c->dl.err == OTASDK_ERR_DIGEST)
            return failed(c, OTASDK_ERR_DIGEST, OTASDK_STEP_FAILED, 0, "digest provider failed");
        if (c->dl.err == OTASDK_ERR_VERIFY) {
            snprintf(desc, sizeof desc, "size mismatch: server sent more than %llu bytes",
                     (unsigned long long)c->job.size);
            return failed(c, OTASDK_ERR_VERIFY, OTASDK_STEP_VERIFY_FAILED, 0, desc);
        }
        if (rc == OTASDK_ERR_HTTP)
            return failed(c, OTASDK_ERR_HTTP, OTASDK_STEP_DOWNLOAD_FAILED, 1,
                          "download refused by the server");
        if (rc == OTASDK_OK && c->dl.offset >= c->job.size)
            break;
        if (rc == OTASDK_OK && c->dl.offset == before) {
            /* complete answer without a byte: the server has no more than this */
            snprintf(desc, sizeof desc, "size mismatch: got %llu bytes, expected %llu",
                     (unsigned long long)c->dl.offset, (unsigned long long)c->job.size);
            return failed(c, OTASDK_ERR_VERIFY, OTASDK_STEP_VERIFY_FAILED, 0, desc);
        }
        /* broken or short: resume from the last good byte */
        if (c->dl.offset > before) {
            fails = 0;
            delay = c->cfg.retry_delay_ms;
        } else if (++fails > c->cfg.download_retries) {
            snprintf(desc, sizeof desc, "download failed at byte %llu after %u retries",
                     (unsigned long long)c->dl.offset, c->cfg.download_retries);
            return failed(c, OTASDK_ERR_NET, OTASDK_STEP_DOWNLOAD_FAILED, 1, desc);
        }
        sdk__log(c, OTASDK_LOG_WARN, "download broke at byte %llu (%s); resuming",
                 (unsigned long long)c->dl.offset, otasdk_strerror(rc));
        if (c->cfg.sys.sleep_ms && fails > 0) {
            c->cfg.sys.sleep_ms(c->cfg.sys.user, delay);
            delay = delay >= 15000 ? 30000 : delay * 2;
        }
    }

    rc = verify(c, desc, sizeof desc);
    if (rc != OTASDK_OK)
        return failed(c, rc,
                      rc == OTASDK_ERR_VERIFY ? OTASDK_STEP_VERIFY_FAILED : OTASDK_STEP_FAILED, 0,
                      desc);
    if (c->cfg.flash.finalize(c->cfg.flash.user, &c->job) != 0)
        return failed(c, OTASDK_ERR_FLASH, OTASDK_STEP_FLASH_FAILED, 0, "flash finalize failed");
    sdk__log(c, OTASDK_LOG_INFO, "image %s verified (%llu bytes, md5 %s)", c->job.version,
             (unsigned long long)c->job.size, c->job.md5);
    sdk__send_progress(c, 100, "image verified");
    return OTASDK_OK;
}
