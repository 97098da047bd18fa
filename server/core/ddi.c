/*
 * ddi: action ids, the poll interval text, the poll's answer (a template: the poll is the
 * hot path) and the DDI body parsers (ddi.h says what each promises). Pure functions, the
 * parsers on jansson; every input is bounded by the caller
 * (DDI_BODY_MAX) and every kept string here.
 */
#include "core/ddi.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t ddi_action_id(int64_t batch_id, int attempt)
{
    if (batch_id <= 0 || batch_id > INT64_MAX / DDI_ATTEMPTS - 1 || attempt < 1 ||
        attempt >= DDI_ATTEMPTS)
        return 0;
    return batch_id * DDI_ATTEMPTS + attempt;
}

int ddi_action_split(int64_t action_id, int64_t *batch_id, int *attempt)
{
    if (action_id <= 0)
        return -1;
    int a = (int)(action_id % DDI_ATTEMPTS);
    int64_t b = action_id / DDI_ATTEMPTS;
    if (a < 1 || b < 1)
        return -1;
    *batch_id = b;
    *attempt = a;
    return 0;
}

int ddi_action_parse(const char *s, int64_t *action_id)
{
    int64_t v = 0;
    size_t n = 0;
    if (!s)
        return -1;
    for (; s[n]; n++) {
        if (n >= 18 || s[n] < '0' || s[n] > '9')
            return -1;
        v = v * 10 + (s[n] - '0');
    }
    if (n == 0 || v <= 0)
        return -1;
    *action_id = v;
    return 0;
}

int64_t ddi_sleep_seconds(int poll_s, double time_scale)
{
    double v = time_scale > 0 ? (double)poll_s / time_scale : (double)poll_s;
    return v < 1 ? 1 : (int64_t)v;
}

void ddi_sleep_text(int64_t seconds, char out[9])
{
    if (seconds < 1)
        seconds = 1;
    if (seconds > DDI_SLEEP_MAX_S)
        seconds = DDI_SLEEP_MAX_S;
    snprintf(out, 9, "%02d:%02d:%02d", (int)(seconds / 3600), (int)(seconds / 60 % 60),
             (int)(seconds % 60));
}

/* ---- the poll's answer ------------------------------------------------------------------- */

/* A bounded writer: n counts every byte asked for, so a cut shows as n >= len. */
typedef struct {
    char *out;
    size_t len, n;
} ans_buf;

static void put_raw(ans_buf *b, const char *s, size_t n)
{
    if (b->n < b->len) {
        size_t room = b->len - b->n;
        memcpy(b->out + b->n, s, n < room ? n : room);
    }
    b->n += n;
}

static void put_str(ans_buf *b, const char *s)
{
    put_raw(b, s, strlen(s));
}

/* s as the inside of a JSON string, escaped as jansson escapes it (" \ and control bytes;
 * '/' and bytes >= 0x80 as they are). */
static void put_escaped(ans_buf *b, const char *s)
{
    char esc[8];
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put_raw(b, run, (size_t)(s - run));
        if (!c)
            return;
        run = s + 1;
        switch (c) {
        case '"': put_str(b, "\\\""); break;
        case '\\': put_str(b, "\\\\"); break;
        case '\b': put_str(b, "\\b"); break;
        case '\f': put_str(b, "\\f"); break;
        case '\n': put_str(b, "\\n"); break;
        case '\r': put_str(b, "\\r"); break;
        case '\t': put_str(b, "\\t"); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04X", c);
            put_str(b, esc);
        }
    }
}

/* "name":{"href":"base<tail>"} */
static void put_link(ans_buf *b, const char *name, const char *base, const char *tail)
{
    put_str(b, "\"");
    put_str(b, name);
    put_str(b, "\":{\"href\":\"");
    put_escaped(b, base);
    put_escaped(b, tail);
    put_str(b, "\"}");
}

int ddi_poll_answer(const ddi_poll_links *p, char *out, size_t len)
{
    ans_buf b = {out, len, 0};
    char sleep[9], tail[80];
    int links = 0;
    if (!out || len == 0)
        return -1;
    ddi_sleep_text(p->sleep_s, sleep);
    put_str(&b, "{\"config\":{\"polling\":{\"sleep\":\"");
    put_str(&b, sleep);
    put_str(&b, "\"}}");
    if (p->cancel) {
        snprintf(tail, sizeof tail, "/cancelAction/%lld", (long long)p->cancel);
        put_str(&b, ",\"_links\":{");
        put_link(&b, "cancelAction", p->base, tail);
        links++;
    } else if (p->deployment) {
        snprintf(tail, sizeof tail, "/deploymentBase/%lld?c=%lld", (long long)p->deployment,
                 (long long)p->deployment);
        put_str(&b, ",\"_links\":{");
        put_link(&b, "deploymentBase", p->base, tail);
        links++;
    }
    if (p->config_data) {
        put_str(&b, links++ ? "," : ",\"_links\":{");
        put_link(&b, "configData", p->base, "/configData");
    }
    put_str(&b, links ? "}}" : "}");
    if (b.n >= len)
        return -1;
    out[b.n] = '\0';
    return (int)b.n;
}

/* ---- feedback ------------------------------------------------------------------------------ */

static const char *const exec_names[] = {"closed",    "proceeding", "canceled", "scheduled",
                                         "rejected",  "resumed",    "download", "downloaded"};
static const char *const fin_names[] = {"none", "success", "failure"};

static int name_index(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

/* s in lowercase (ASCII) into out, cut to outlen - 1 bytes. */
static void lower_copy(const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    for (; s[n] && n < outlen - 1; n++)
        out[n] = (char)tolower((unsigned char)s[n]);
    out[n] = '\0';
}

/* How telling a failure step is: a bad image is often reported as a failed install or
 * download too. */
static int rank(int step)
{
    return step == -3 ? 3 : step == -2 ? 2 : step == -4 ? 1 : 0;
}

/* 1 when the lowercase text hay contains the lowercase word needle. */
static int has_word(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

/* The failure reason a details line names: -3 verify, -2 download, -4 flash, 0 none. The
 * words are those SWUpdate and rauc-hawkbit-updater put in their error lines (docs/ddi.md). */
static int step_of_detail(const char *s)
{
    static const char *const verify[] = {"signature", "verif", "hash",    "checksum",
                                         "sha1",      "sha256", "corrupt", "md5"};
    static const char *const download[] = {"download", "curl", "channel", "http", "connection"};
    static const char *const flash[] = {"flash", "install", "handler", "write", "partition", "slot"};
    char low[512];
    lower_copy(s, low, sizeof low);
    for (size_t i = 0; i < sizeof verify / sizeof verify[0]; i++)
        if (has_word(low, verify[i]))
            return -3;
    for (size_t i = 0; i < sizeof download / sizeof download[0]; i++)
        if (has_word(low, download[i]))
            return -2;
    for (size_t i = 0; i < sizeof flash / sizeof flash[0]; i++)
        if (has_word(low, flash[i]))
            return -4;
    return 0;
}

/* 1 when a details line reports an error (progress lines name downloads and installs too). */
static int is_error_line(const char *s)
{
    static const char *const words[] = {"error", "fail", "mismatch", "invalid",
                                        "corrupt", "not match", "refused"};
    char low[512];
    lower_copy(s, low, sizeof low);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(low, words[i]))
            return 1;
    return 0;
}

/* The most telling reason among the details: verify over download over flash (a bad
 * image is often reported as a failed install too); 0 when none names one. all: every
 * line counts (a closed failure), else error lines only. */
static int step_of_details(json_t *details, int all)
{
    int best = 0;
    size_t i;
    json_t *v;
    if (!json_is_array(details))
        return 0;
    json_array_foreach(details, i, v)
    {
        if (i >= 64)
            break;
        if (!json_is_string(v) || (!all && !is_error_line(json_string_value(v))))
            continue;
        int s = step_of_detail(json_string_value(v));
        best = rank(s) > rank(best) ? s : best;
    }
    return best;
}

static int parse_id(json_t *id, ddi_feedback *out, rq_error *e)
{
    if (!id || json_is_null(id))
        return 0;
    if (json_is_integer(id)) {
        if (json_integer_value(id) <= 0)
            goto bad;
        out->id = json_integer_value(id);
        out->has_id = 1;
        return 0;
    }
    if (json_is_string(id)) {
        const char *s = json_string_value(id);
        if (!*s)
            return 0; /* SWUpdate's configData sends "id":"" */
        if (ddi_action_parse(s, &out->id) != 0)
            goto bad;
        out->has_id = 1;
        return 0;
    }
bad:
    rq_fail(e, 400, "invalid_field", "id", "id must be the action id (an integer or a string of "
                                           "digits).");
    return -1;
}

int ddi_parse_feedback(const char *body, size_t len, ddi_feedback *out, rq_error *e)
{
    json_error_t jerr;
    int rc = -1;
    memset(out, 0, sizeof *out);
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        rq_fail(e, 400, "invalid_json", NULL, "The body must be a JSON object.");
        goto out;
    }
    if (parse_id(json_object_get(root, "id"), out, e) != 0)
        goto out;
    json_t *status = json_object_get(root, "status");
    if (!json_is_object(status)) {
        rq_fail(e, 400, "invalid_field", "status", "status must be an object.");
        goto out;
    }
    json_t *ex = json_object_get(status, "execution");
    int xi = json_is_string(ex) ? name_index(json_string_value(ex), exec_names,
                                             sizeof exec_names / sizeof exec_names[0])
                                : -1;
    if (xi < 0) {
        rq_fail(e, 400, "invalid_field", "status.execution",
                "status.execution must be closed, proceeding, canceled, scheduled, rejected, "
                "resumed, download or downloaded.");
        goto out;
    }
    out->execution = (ddi_execution)xi;
    json_t *result = json_object_get(status, "result");
    if (result && !json_is_object(result)) {
        rq_fail(e, 400, "invalid_field", "status.result", "status.result must be an object.");
        goto out;
    }
    json_t *fin = result ? json_object_get(result, "finished") : NULL;
    if (fin) {
        int fi = json_is_string(fin) ? name_index(json_string_value(fin), fin_names, 3) : -1;
        if (fi < 0) {
            rq_fail(e, 400, "invalid_field", "status.result.finished",
                    "status.result.finished must be success, failure or none.");
            goto out;
        }
        out->finished = (ddi_finished)fi;
    }
    if (out->execution == DDI_EXEC_CLOSED && !fin) {
        rq_fail(e, 400, "invalid_field", "status.result.finished",
                "A closed action needs status.result.finished (success or failure).");
        goto out;
    }
    json_t *pr = result ? json_object_get(result, "progress") : NULL;
    if (pr) {
        json_t *cnt = json_object_get(pr, "cnt"), *of = json_object_get(pr, "of");
        if (!json_is_object(pr) || !json_is_integer(cnt) || (of && !json_is_integer(of)) ||
            json_integer_value(cnt) < 0 || (of && json_integer_value(of) < 0)) {
            rq_fail(e, 400, "invalid_field", "status.result.progress",
                    "status.result.progress must be {\"cnt\":N,\"of\":M} with N, M >= 0.");
            goto out;
        }
        out->has_progress = 1;
        out->cnt = json_integer_value(cnt);
        out->of = of ? json_integer_value(of) : 0;
    }
    json_t *details = json_object_get(status, "details");
    if (details && !json_is_array(details)) {
        rq_fail(e, 400, "invalid_field", "status.details", "status.details must be an array.");
        goto out;
    }
    out->hint_step = step_of_details(details, 0);
    if (out->finished == DDI_FIN_FAILURE) {
        int s = step_of_details(details, 1);
        out->fail_step = s ? s : -1;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int ddi_step_best(int a, int b)
{
    int r = rank(a) >= rank(b) ? a : b;
    return rank(r) ? r : -1;
}

int ddi_progress_step(const ddi_feedback *f)
{
    if (!f->has_progress || f->of <= 0 || f->cnt <= 0 || f->cnt > f->of)
        return 1;
    int64_t p = f->cnt * 100 / f->of;
    return p < 1 ? 1 : p > 100 ? 100 : (int)p;
}

/* ---- configData ------------------------------------------------------------------------------ */

int ddi_parse_config(const char *body, size_t len, char **json, rq_error *e)
{
    json_error_t jerr;
    int rc = -1;
    json_t *kept = NULL;
    *json = NULL;
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        rq_fail(e, 400, "invalid_json", NULL, "The body must be a JSON object.");
        goto out;
    }
    json_t *mode = json_object_get(root, "mode");
    const char *m = json_is_string(mode) ? json_string_value(mode) : NULL;
    if (mode && (!m || (strcmp(m, "merge") && strcmp(m, "replace") && strcmp(m, "remove")))) {
        rq_fail(e, 400, "invalid_field", "mode", "mode must be merge, replace or remove.");
        goto out;
    }
    json_t *data = json_object_get(root, "data");
    if (!json_is_object(data)) {
        rq_fail(e, 400, "invalid_field", "data", "data must be an object of string values.");
        goto out;
    }
    if (json_object_size(data) > DDI_ATTR_MAX_KEYS) {
        rq_fail(e, 400, "invalid_field", "data", "data holds at most %d keys.", DDI_ATTR_MAX_KEYS);
        goto out;
    }
    kept = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(data, k, v)
    {
        size_t kl = strlen(k);
        char field[DDI_ATTR_KEY_MAX + 8];
        snprintf(field, sizeof field, "data.%.*s", DDI_ATTR_KEY_MAX, k);
        if (kl == 0 || kl > DDI_ATTR_KEY_MAX) {
            rq_fail(e, 400, "invalid_field", "data", "A key of data must be 1 to %d bytes.",
                    DDI_ATTR_KEY_MAX);
            goto out;
        }
        for (size_t i = 0; i < kl; i++)
            if ((unsigned char)k[i] < 0x20) {
                rq_fail(e, 400, "invalid_field", "data", "A key of data has a control character.");
                goto out;
            }
        if (!json_is_string(v) || json_string_length(v) > DDI_ATTR_VALUE_MAX) {
            rq_fail(e, 400, "invalid_field", field, "%s must be a string of at most %d bytes.",
                    field, DDI_ATTR_VALUE_MAX);
            goto out;
        }
        json_object_set(kept, k, v);
    }
    if (m && strcmp(m, "remove") == 0)
        json_object_clear(kept);
    *json = json_dumps(kept, JSON_COMPACT | JSON_SORT_KEYS);
    if (!*json || strlen(*json) > DDI_ATTR_JSON_MAX) {
        free(*json);
        *json = NULL;
        rq_fail(e, 400, "invalid_field", "data", "data is too large (at most %d bytes as JSON).",
                DDI_ATTR_JSON_MAX);
        goto out;
    }
    rc = 0;
out:
    json_decref(kept);
    json_decref(root);
    return rc;
}
