/*
 * cpusample.c: `ota-bench cpu-sample OUT INTERVAL_MS "PID=ROLE ..."`, the CPU sampler of
 * bench/run.sh (cpu_sampler_start; cpu_window reads what it writes). Every INTERVAL_MS it
 * appends to OUT, all with the same wall-clock time in ms:
 *   "T machine BUSY TOTAL"        from /proc/stat's cpu line (busy: all but idle and iowait)
 *   "T ROLE TICKS PID"            utime + stime of each mapped process, and of every
 *                                 postgres and ota-fleet process under those names
 *   "T thread:ROLE TICKS TID NAME" the same for each thread of a mapped process, with its
 *                                 name (otad names its threads: ota-engine, ota-parts, ...)
 * It replaces a shell loop that forked cat, sed and awk five times a second, which took
 * about a tenth of this 2-core machine from the processes being measured.
 */
#include "cpusample.h"

#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CS_MAX_MAPPED 16

typedef struct {
    long pid;
    char role[64];
} cs_map;

static volatile sig_atomic_t cs_stop;

static void cs_on_signal(int sig)
{
    (void)sig;
    cs_stop = 1;
}

/* Reads a /proc stat file into buf (cap bytes). 0, or -1 when it is gone. */
static int cs_read(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0 ? 0 : -1;
}

/* From a /proc/PID/stat line: the command (between the first '(' and the last ')', copied
 * into comm) and utime + stime (fields 14 and 15). 0, or -1 when the line is not one. */
static int cs_parse(const char *line, char *comm, size_t cap, unsigned long long *ticks)
{
    const char *a = strchr(line, '('), *b = strrchr(line, ')');
    if (!a || !b || b < a)
        return -1;
    size_t n = (size_t)(b - a - 1) < cap - 1 ? (size_t)(b - a - 1) : cap - 1;
    memcpy(comm, a + 1, n);
    comm[n] = '\0';
    /* after ") " come field 3 (state) onwards: utime is field 14, the 12th from there */
    const char *p = b + 1;
    unsigned long long v[13];
    int k = 0;
    while (k < 13 && *p) {
        while (*p == ' ')
            p++;
        if (k == 0) { /* the state letter */
            while (*p && *p != ' ')
                p++;
            v[k++] = 0;
            continue;
        }
        char *end;
        v[k++] = strtoull(p, &end, 10);
        if (end == p)
            return -1;
        p = end;
    }
    if (k < 13)
        return -1;
    *ticks = v[11] + v[12];
    return 0;
}

static const char *cs_role(const cs_map *m, int n, long pid)
{
    for (int i = 0; i < n; i++)
        if (m[i].pid == pid)
            return m[i].role;
    return NULL;
}

/* One sample of everything into out. */
static void cs_sample(FILE *out, const cs_map *m, int n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long t = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    char buf[4096], comm[64], path[96];
    unsigned long long ticks;
    if (cs_read("/proc/stat", buf, sizeof buf) == 0 && !strncmp(buf, "cpu ", 4)) {
        unsigned long long busy = 0, total = 0;
        char *p = buf + 4;
        for (int i = 0; i < 10; i++) {
            char *end;
            unsigned long long v = strtoull(p, &end, 10);
            if (end == p)
                break;
            total += v;
            if (i != 3 && i != 4) /* idle, iowait */
                busy += v;
            p = end;
        }
        fprintf(out, "%lld machine %llu %llu\n", t, busy, total);
    }
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        long pid = strtol(e->d_name, NULL, 10);
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        if (cs_read(path, buf, sizeof buf) != 0 || cs_parse(buf, comm, sizeof comm, &ticks) != 0)
            continue;
        const char *role = cs_role(m, n, pid);
        if (!role && (!strcmp(comm, "postgres") || !strcmp(comm, "ota-fleet")))
            role = comm;
        if (role)
            fprintf(out, "%lld %s %llu %ld\n", t, role, ticks, pid);
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "/proc/%ld/task", m[i].pid);
        DIR *td = opendir(path);
        if (!td)
            continue;
        while ((e = readdir(td)) != NULL) {
            if (!isdigit((unsigned char)e->d_name[0]))
                continue;
            long tid = strtol(e->d_name, NULL, 10);
            snprintf(path, sizeof path, "/proc/%ld/task/%ld/stat", m[i].pid, tid);
            if (cs_read(path, buf, sizeof buf) == 0 &&
                cs_parse(buf, comm, sizeof comm, &ticks) == 0)
                fprintf(out, "%lld thread:%s %llu %ld %s\n", t, m[i].role, ticks, tid,
                        comm[0] ? comm : "-");
        }
        closedir(td);
    }
    fflush(out);
}

int cpusample_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ota-bench cpu-sample OUT INTERVAL_MS [PID=ROLE ...]\n");
        return 2;
    }
    long ms = strtol(argv[1], NULL, 10);
    if (ms <= 0)
        return 2;
    cs_map m[CS_MAX_MAPPED];
    int n = 0;
    for (int i = 2; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq || n == CS_MAX_MAPPED)
            return 2;
        m[n].pid = strtol(argv[i], NULL, 10);
        snprintf(m[n].role, sizeof m[n].role, "%s", eq + 1);
        n++;
    }
    FILE *out = fopen(argv[0], "a");
    if (!out)
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cs_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct timespec iv = {ms / 1000, (ms % 1000) * 1000000L};
    while (!cs_stop) {
        cs_sample(out, m, n);
        nanosleep(&iv, NULL);
    }
    return fclose(out) == 0 ? 0 : 1;
}
