/*
 * http: the SDK's download through libcurl. One easy handle per GET (a download makes a
 * handful: the first, and one per resume). The body goes to the SDK's sink chunk by chunk
 * with its absolute offset, taken from Content-Range on a 206 and 0 on a 200. A stalled
 * link (below 1 byte/s for stall_timeout_s) counts as broken, and the progress callback
 * gives the SDK a chance to stop about once a second even when no byte arrives.
 */
#include "posix_internal.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct {
    otasdk_posix *p;
    CURL *curl;
    otasdk_http_sink sink;
    void *arg;
    uint64_t from;
    uint64_t next; /* absolute offset of the next body byte; UINT64_MAX until known */
    int aborted;   /* the sink asked to stop */
    int bad_range; /* 206 whose Content-Range we could not read */
} dl_req;

static size_t on_header(char *buf, size_t size, size_t n, void *userp)
{
    dl_req *r = userp;
    size_t len = size * n;
    unsigned long long start;
    char line[256];
    if (len >= sizeof line)
        return len;
    memcpy(line, buf, len);
    line[len] = '\0';
    if (strncmp(line, "HTTP/", 5) == 0) { /* a new response (redirect): forget the last */
        r->next = UINT64_MAX;
        r->bad_range = 0;
        return len;
    }
    if (strncasecmp(line, "Content-Range:", 14) == 0) {
        if (sscanf(line + 14, " bytes %llu-", &start) == 1)
            r->next = start;
        else
            r->bad_range = 1;
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    dl_req *r = userp;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 && status != 206)
        return len; /* an error page: FAILONERROR normally stops it before */
    if (r->next == UINT64_MAX) {
        if (status == 206 && r->bad_range) {
            posix__log(r->p, OTASDK_LOG_WARN, "206 without a readable Content-Range");
            r->aborted = 0;
            return 0;
        }
        r->next = status == 206 ? r->next : 0;
        if (r->next == UINT64_MAX)
            r->next = r->from; /* 206 without Content-Range: trust our Range */
    }
    if (r->sink(r->arg, r->next, data, len) != 0) {
        r->aborted = 1;
        return 0;
    }
    r->next += len;
    return len;
}

static int on_progress(void *userp, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    dl_req *r = userp;
    (void)dt, (void)dn, (void)ut, (void)un;
    if (r->sink(r->arg, 0, NULL, 0) != 0) {
        r->aborted = 1;
        return 1;
    }
    return 0;
}

int posix__http_get(void *user, const char *url, uint64_t from, otasdk_http_sink sink, void *arg)
{
    otasdk_posix *p = user;
    dl_req r;
    char range[48];
    char errbuf[CURL_ERROR_SIZE];
    long status = 0;
    CURLcode cc;
    int rc;

    memset(&r, 0, sizeof r);
    r.p = p;
    r.sink = sink;
    r.arg = arg;
    r.from = from;
    r.next = UINT64_MAX;
    r.curl = curl_easy_init();
    if (!r.curl)
        return OTASDK_ERR_NET;
    errbuf[0] = '\0';
    curl_easy_setopt(r.curl, CURLOPT_URL, url);
    curl_easy_setopt(r.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r.curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(r.curl, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(r.curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(r.curl, CURLOPT_CONNECTTIMEOUT, p->connect_timeout_s);
    curl_easy_setopt(r.curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(r.curl, CURLOPT_LOW_SPEED_TIME, p->stall_timeout_s);
    curl_easy_setopt(r.curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(r.curl, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(r.curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r.curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(r.curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(r.curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(r.curl, CURLOPT_XFERINFODATA, &r);
    curl_easy_setopt(r.curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(r.curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(r.curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(r.curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (p->ca_file[0])
        curl_easy_setopt(r.curl, CURLOPT_CAINFO, p->ca_file);
    if (p->max_recv_bytes_s > 0)
        curl_easy_setopt(r.curl, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)p->max_recv_bytes_s);
    if (from > 0) {
        snprintf(range, sizeof range, "%llu-", (unsigned long long)from);
        curl_easy_setopt(r.curl, CURLOPT_RANGE, range);
    }
    cc = curl_easy_perform(r.curl);
    curl_easy_getinfo(r.curl, CURLINFO_RESPONSE_CODE, &status);
    if (cc == CURLE_OK && (status == 200 || status == 206)) {
        rc = OTASDK_OK;
    } else if (r.aborted) {
        rc = OTASDK_ERR_ABORTED;
    } else if (cc == CURLE_HTTP_RETURNED_ERROR || cc == CURLE_OK) {
        posix__log(p, OTASDK_LOG_WARN, "download answered HTTP %ld", status);
        rc = (status >= 500 || status == 408 || status == 429) ? OTASDK_ERR_NET : OTASDK_ERR_HTTP;
    } else {
        posix__log(p, OTASDK_LOG_WARN, "download broke: %s (%s)", curl_easy_strerror(cc), errbuf);
        rc = OTASDK_ERR_NET;
    }
    curl_easy_cleanup(r.curl);
    return rc;
}
