/*
 * http_internal: the router's parsers and tables, visible to unit tests (test_http_parse,
 * test_http_routes) and to nothing else.
 */
#ifndef OTAD_HTTP_INTERNAL_H
#define OTAD_HTTP_INTERNAL_H

#include "http/http.h"

#include <stdint.h>

/* 1 when url matches pattern ("{name}" = one segment, "{name*}" = the rest, a literal
 * suffix after a parameter in the same segment is allowed); fills r's params when r is
 * not NULL (freed with the request). 0 otherwise. */
int http__match(const char *pattern, const char *url, http_req *r);
/* A Range header against a file of size bytes: 1 with [*from, *to] (inclusive) for one
 * satisfiable byte range, 0 when absent/malformed/multiple (send everything), -1 when
 * unsatisfiable (416). */
int http__parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to);

/* The i-th route of all tables in matching order (from 0), or NULL past the last. */
const http_route *http__route_at(size_t i);

/* The audit action a route's rows carry (audit.c's table), or NULL when it names none;
 * *audited is 1 when the route writes rows at all (a change, or a sign-in). */
const char *http__audit_action(const http_route *rt, int *audited);

#endif
