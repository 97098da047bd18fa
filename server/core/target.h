/*
 * target: device tags, group names and a batch's target (docs/batches.md, "Targeting"):
 * their rules, their JSON forms, and whether one device matches a target. Pure: the HTTP
 * routes parse requests with it, the store keeps its canonical texts, and the engine
 * judges a device against a continuous batch with target_match without reading any other
 * device.
 *
 * Forms kept in the store (and compared as text by the databases' JSON functions):
 *   tags      a JSON object of 0..TARGET_TAGS_MAX string members, keys sorted, no spaces:
 *             {"hw":"v2","site":"north"}; "{}" = none
 *   groups    a JSON array of 0..TARGET_GROUPS_MAX group names in the order given
 *   versions  a JSON array of 0..TARGET_VERSIONS_MAX firmware versions (fromVersions)
 *
 * Errors: the parse functions return 0, or -1 with a target_error (HTTP status, the API's
 * code, the field at fault as the API names it, one sentence of printable ASCII).
 * Expected load: one call per API request; target_match per device event of a product
 * that has continuous batches (a few string compares per tag).
 */
#ifndef OTAD_TARGET_H
#define OTAD_TARGET_H

#include "otaproto/ota_protocol.h"

#include <jansson.h>
#include <stddef.h>

#define TARGET_TAGS_MAX 20          /* tags per device, and in one filter */
#define TARGET_KEY_MAX 32           /* a tag key: 1..32 of [A-Za-z0-9_.-] */
#define TARGET_VALUE_MAX 64         /* a tag value: 1..64 of [A-Za-z0-9_.:/+-] */
#define TARGET_GROUP_NAME_MAX 64    /* a group name: 1..64 of [A-Za-z0-9_.-] */
#define TARGET_GROUPS_MAX 20        /* groups in one filter */
#define TARGET_VERSIONS_MAX 50      /* fromVersions entries */
#define TARGET_GROUPS_PER_PRODUCT 1000
/* The canonical tags text: 20 members of "k":"v" at most (32 + 64 + 6 bytes each), the
 * braces and the NUL. */
#define TARGET_TAGS_TEXT_MAX 2048
_Static_assert(TARGET_TAGS_MAX * (TARGET_KEY_MAX + TARGET_VALUE_MAX + 6) + 3 <=
                   TARGET_TAGS_TEXT_MAX,
               "the canonical tags text fits its buffer");
#define TARGET_GROUPS_TEXT_MAX (TARGET_GROUPS_MAX * (TARGET_GROUP_NAME_MAX + 3) + 3)
#define TARGET_VERSIONS_TEXT_MAX (TARGET_VERSIONS_MAX * (OTA_VERSION_MAX + 3) + 3)

typedef struct {
    int status;       /* 400 or 422 */
    const char *code; /* invalid_type, invalid_value, out_of_range, duplicate, ... (static) */
    char field[64];   /* e.g. "tags.site", "filter.groups", "fromVersions" */
    char message[256];
} target_error;

/* 1 when s is a valid tag key / tag value / group name (rules above). */
int target_key_ok(const char *s);
int target_value_ok(const char *s);
int target_group_name_ok(const char *s);

/* A JSON object of tags (field names the object, e.g. "tags" or "filter.tags"): every
 * member a string, key and value by the rules, at most TARGET_TAGS_MAX (min_one: at least
 * one). Writes the canonical text into out (TARGET_TAGS_TEXT_MAX bytes). */
int target_tags_parse(const json_t *obj, const char *field, int min_one, char *out,
                      target_error *e);
/* An array of group names (1..TARGET_GROUPS_MAX, no repeats) into its text (out,
 * TARGET_GROUPS_TEXT_MAX bytes). */
int target_groups_parse(const json_t *arr, const char *field, char *out, target_error *e);
/* fromVersions: 1..TARGET_VERSIONS_MAX valid firmware versions, no repeats, into its text
 * (out, TARGET_VERSIONS_TEXT_MAX bytes). */
int target_versions_parse(const json_t *arr, const char *field, char *out, target_error *e);
/* have (a canonical tags text, "" or NULL = none) with the tags of set (canonical text or
 * NULL) put in and the keys remove[0..n_remove) taken out, into out
 * (TARGET_TAGS_TEXT_MAX bytes). 0, or -1 when the result would have more than
 * TARGET_TAGS_MAX tags (or have is not a tags text). */
int target_tags_edit(const char *have, const char *set, const char *const *remove,
                     size_t n_remove, char *out);
/* One "k=v" as typed on a command line or a query (?tag=k=v) into key and value
 * (TARGET_KEY_MAX + 1 and TARGET_VALUE_MAX + 1 bytes). 0, or -1. */
int target_tag_split(const char *kv, char *key, char *value);

/* ---- request bodies (docs/api.md, "Tags and groups") ----------------------------------- */

#define TARGET_BODY_MAX (8 * 1024 * 1024) /* bytes: 100000 identifiers of 64 fit */
#define TARGET_IDENTS_MAX 100000

/* A parsed body; strings point into root (owned) until target_body_free. */
typedef struct {
    json_t *root;
    const char **idents; /* identifiers (owned array), n_idents of them */
    size_t n_idents;
    int has_filter;                          /* bulk, query: filter or fromVersions given */
    char tags[TARGET_TAGS_TEXT_MAX];         /* {"tags"} of PUT, filter.tags, or "" */
    char groups[TARGET_GROUPS_TEXT_MAX];     /* filter.groups, or "" */
    char versions[TARGET_VERSIONS_TEXT_MAX]; /* fromVersions, or "" */
    char set[TARGET_TAGS_TEXT_MAX];          /* bulk: set, or "" */
    const char **remove;                     /* bulk: keys to remove (owned array) */
    size_t n_remove;
    const char *name;       /* group create: name */
} target_body;

typedef enum {
    TARGET_BODY_TAGS,    /* PUT .../devices/{id}/tags {"tags":{...}} (may be empty: clears) */
    TARGET_BODY_BULK,    /* POST .../devices:tag {"identifiers"|"filter"(+"fromVersions"),
                            "set","remove"}: exactly one of identifiers and filter/fromVersions,
                            at least one of set and remove */
    TARGET_BODY_GROUP,   /* POST .../groups {"name"} */
    TARGET_BODY_MEMBERS, /* POST .../groups/{name}/members[:remove] {"identifiers"} */
} target_body_kind;

/* Parses body[0..len) as kind. 0, or -1 with e set (413 too_large, 400 invalid_json,
 * unknown_field, invalid_type, 422 missing_field and the rules' codes). *out is always
 * ready for target_body_free. */
int target_body_parse(target_body_kind kind, const char *body, size_t len, target_body *out,
                      target_error *e);
void target_body_free(target_body *b);
/* A target given in a query (GET .../devices?tag=&group=, .../devices:count): tag
 * "k=v[,k=v...]", group "g[,g...]", fromVersions "v[,v...]" (each NULL or "" = absent)
 * into out's tags, groups and versions (has_filter when any). 0, or -1 with e set (400
 * invalid_parameter naming the parameter). */
int target_query_parse(const char *tag, const char *group, const char *versions,
                       target_body *out, target_error *e);

/* A target as the engine holds it for a continuous batch: the three texts above ("{}" /
 * "[]" when absent), parsed once. */
typedef struct {
    json_t *tags;     /* object (owned) */
    json_t *groups;   /* array (owned) */
    json_t *versions; /* array (owned) */
} target;

/* Parses the texts (NULL or "" = absent). 0, or -1 when one is not of its form. Free with
 * target_free (also after a failure). */
int target_load(target *t, const char *tags, const char *groups, const char *versions);
void target_free(target *t);
/* 1 when the target names groups (then target_match needs the device's groups). */
int target_needs_groups(const target *t);
/* 1 when a device with this tags text ("" or NULL = none), member of the groups in
 * group_names[0..n_groups), reporting version (NULL = never reported) matches: every tag,
 * one of the groups (any), one of the versions. */
int target_match(const target *t, const char *tags, const char *const *group_names,
                 size_t n_groups, const char *version);

#endif
