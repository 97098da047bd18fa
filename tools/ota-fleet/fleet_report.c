/*
 * fleet_report: the fleet's summary, from what the workers left in the shared mapping:
 * counts by outcome, connection and message totals, push -> done latency percentiles, the
 * batch timing; printed, and written as JSON (--summary-json) and as one CSV line per
 * device (--results, temp file + rename).
 */
#include "fleet.h"

#include "ota_log.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void dev_name(const fleet_opts *o, uint32_t i, char *out, size_t len)
{
    snprintf(out, len, "%s%06u", o->prefix, o->first + i);
}

static int write_results(const fleet_opts *o, const fleet_shared *sh)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", o->results_path);
    FILE *fp = fopen(tmp, "w");
    if (!fp) {
        OTA_ERROR("fleet: %s: %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(fp, "identifier,behaviour,outcome,pushes,start_ms,connected_ms,ready_ms,push_ms,done_ms,"
                "downloaded,dup_pushes,redelivered\n");
    for (uint32_t i = 0; i < o->n_devices; i++) {
        const fleet_devres *r = &sh->res[i];
        char id[96];
        dev_name(o, i, id, sizeof id);
        fprintf(fp, "%s,%s,%s,%u,%d,%d,%d,%d,%d,%llu,%u,%u\n", id, fleet_behaviour_name(r->behaviour),
                fleet_outcome_name(r->outcome), r->pushes, r->t_start, r->t_connected, r->t_ready,
                r->t_push, r->t_done, (unsigned long long)r->downloaded, r->dup_pushes,
                r->redelivered);
    }
    if (fclose(fp) != 0 || rename(tmp, o->results_path) != 0) {
        OTA_ERROR("fleet: %s: %s", o->results_path, strerror(errno));
        return -1;
    }
    return 0;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

int fleet_report(const fleet_opts *o, fleet_shared *sh, const fleet_batch_ctl *b, int64_t elapsed)
{
    uint32_t outcomes[FO_COUNT] = {0};
    uint32_t n = o->n_devices, errors = 0, finished = 0, dup_devs = 0;
    uint64_t dup_pushes = 0, redelivered = 0;
    uint32_t connected_once = 0, peak = 0, ready = 0, pushed_devs = 0;
    uint64_t pushes = 0, msgs_out = 0, msgs_in = 0, dl_bytes = 0;
    int64_t t_first_push = 0, t_last_done = 0, t_all_connected = 0;
    int32_t *lat = malloc(sizeof *lat * (n ? n : 1));
    size_t nl = 0;

    for (uint32_t i = 0; i < n; i++) {
        const fleet_devres *r = &sh->res[i];
        outcomes[r->outcome < FO_COUNT ? r->outcome : 0]++;
        if (r->outcome != FO_NONE)
            finished++;
        if (!fleet_outcome_ok(r->outcome))
            errors++;
        if (r->dup_pushes)
            dup_devs++;
        dup_pushes += r->dup_pushes;
        redelivered += r->redelivered;
        if (lat && r->outcome == FO_SUCCEEDED && r->t_push)
            lat[nl++] = r->t_done - r->t_push;
    }
    for (int k = 0; k < sh->n_workers; k++) {
        const fleet_worker_stats *w = &sh->w[k];
        connected_once += atomic_load(&w->connected_once);
        ready += atomic_load(&w->ready);
        pushed_devs += atomic_load(&w->pushed_devs);
        peak += w->peak_active;
        pushes += w->pushes;
        msgs_out += w->msgs_out;
        msgs_in += w->msgs_in;
        dl_bytes += w->dl_bytes;
        if (w->t_first_push && (!t_first_push || w->t_first_push < t_first_push))
            t_first_push = w->t_first_push;
        if (w->t_last_done > t_last_done)
            t_last_done = w->t_last_done;
        if (w->t_all_connected > t_all_connected)
            t_all_connected = w->t_all_connected;
    }
    int32_t p50 = 0, p99 = 0;
    if (nl) {
        qsort(lat, nl, sizeof *lat, cmp_i32);
        p50 = lat[nl / 2];
        p99 = lat[(nl * 99) / 100 < nl ? (nl * 99) / 100 : nl - 1];
    }
    free(lat);
    double rollout_min = t_last_done > t_first_push ? (double)(t_last_done - t_first_push) / 60000.0 : 0;
    double rate = rollout_min > 0 ? outcomes[FO_SUCCEEDED] / rollout_min : 0;
    double batch_rate = 0;
    if (b && b->t_end > b->t_create && b->total > 0)
        batch_rate = (double)b->total * 60000.0 / (double)(b->t_end - b->t_create);

    printf("ota-fleet: %u devices (%s%06u..), %d worker(s), %lld ms\n", n, o->prefix, o->first,
           sh->n_workers, (long long)elapsed);
    printf("  connected once %u, peak connected %u, last first connection at %lld ms\n",
           connected_once, peak, (long long)t_all_connected);
    printf("  ready %u, pushed %u (pushes %llu), messages out %llu in %llu\n", ready, pushed_devs,
           (unsigned long long)pushes, (unsigned long long)msgs_out, (unsigned long long)msgs_in);
    printf("  outcomes:");
    for (int k = 1; k < FO_COUNT; k++)
        if (outcomes[k] || k == FO_SUCCEEDED)
            printf(" %s=%u", fleet_outcome_name(k), outcomes[k]);
    printf(" unfinished=%u\n", n - finished);
    printf("  first push at %lld ms, last success at %lld ms: %.0f devices/min; push->done p50 %d ms "
           "p99 %d ms\n",
           (long long)t_first_push, (long long)t_last_done, rate, p50, p99);
    printf("  downloaded %.1f MB\n", (double)dl_bytes / 1e6);
    printf("  duplicate pushes (one attempt published twice) %llu on %u devices; QoS 1 "
           "redeliveries %llu\n",
           (unsigned long long)dup_pushes, dup_devs, (unsigned long long)redelivered);
    if (b)
        printf("  batch %s: %s, total %lld succeeded %lld failed %lld; create->end %lld ms "
               "(server %lld ms): %.0f devices/min\n",
               b->batch_id[0] ? b->batch_id : "-", b->state, b->total, b->succeeded,
               b->failed_devices, (long long)(b->t_end ? b->t_end - b->t_create : -1),
               (long long)b->server_ms, batch_rate);
    printf("  result: %s (%u devices not as told, %u pushed one attempt twice)\n",
           errors || dup_devs ? "ERRORS" : "ok", errors, dup_devs);
    fflush(stdout);

    if (o->summary_json[0]) {
        json_t *j = json_object();
        json_object_set_new(j, "devices", json_integer(n));
        json_object_set_new(j, "workers", json_integer(sh->n_workers));
        json_object_set_new(j, "elapsedMs", json_integer(elapsed));
        json_object_set_new(j, "connectedOnce", json_integer(connected_once));
        json_object_set_new(j, "peakConnected", json_integer(peak));
        json_object_set_new(j, "ready", json_integer(ready));
        json_object_set_new(j, "pushedDevices", json_integer(pushed_devs));
        json_object_set_new(j, "pushes", json_integer((json_int_t)pushes));
        json_object_set_new(j, "messagesOut", json_integer((json_int_t)msgs_out));
        json_object_set_new(j, "messagesIn", json_integer((json_int_t)msgs_in));
        json_t *oc = json_object();
        for (int k = 1; k < FO_COUNT; k++)
            json_object_set_new(oc, fleet_outcome_name(k), json_integer(outcomes[k]));
        json_object_set_new(oc, "unfinished", json_integer(n - finished));
        json_object_set_new(j, "outcomes", oc);
        json_object_set_new(j, "firstPushMs", json_integer(t_first_push));
        json_object_set_new(j, "lastSuccessMs", json_integer(t_last_done));
        json_object_set_new(j, "devicesPerMinute", json_real(rate));
        json_object_set_new(j, "pushToDoneP50Ms", json_integer(p50));
        json_object_set_new(j, "pushToDoneP99Ms", json_integer(p99));
        json_object_set_new(j, "downloadedBytes", json_integer((json_int_t)dl_bytes));
        json_object_set_new(j, "errors", json_integer(errors));
        json_object_set_new(j, "duplicatePushes", json_integer((json_int_t)dup_pushes));
        json_object_set_new(j, "duplicatePushDevices", json_integer(dup_devs));
        json_object_set_new(j, "redeliveries", json_integer((json_int_t)redelivered));
        json_object_set_new(j, "firstPushUrl",
                            json_string(atomic_load(&sh->url_taken) ? sh->first_url : ""));
        if (b) {
            json_t *bj = json_object();
            json_object_set_new(bj, "batchId", json_string(b->batch_id));
            json_object_set_new(bj, "state", json_string(b->state));
            json_object_set_new(bj, "total", json_integer(b->total));
            json_object_set_new(bj, "succeeded", json_integer(b->succeeded));
            json_object_set_new(bj, "failed", json_integer(b->failed_devices));
            json_object_set_new(bj, "createToEndMs",
                                json_integer(b->t_end ? b->t_end - b->t_create : -1));
            json_object_set_new(bj, "createCallMs", json_integer(b->t_created - b->t_create));
            json_object_set_new(bj, "serverMs", json_integer(b->server_ms));
            json_object_set_new(bj, "createUnixMs", json_integer(b->wall_create));
            json_object_set_new(bj, "endUnixMs", json_integer(b->wall_end));
            json_object_set_new(bj, "devicesPerMinute", json_real(batch_rate));
            json_object_set_new(j, "batch", bj);
        }
        if (json_dump_file(j, o->summary_json, JSON_INDENT(1)) != 0)
            OTA_ERROR("fleet: cannot write %s", o->summary_json);
        json_decref(j);
    }
    if (o->results_path[0])
        write_results(o, sh);
    return (int)(errors + dup_devs);
}
