/*
 * validate: field rules for products, devices and firmware. Pure functions over
 * NUL-terminated strings; bounded loops; no allocation. See validate.h for each rule.
 */
#include "core/validate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define WHY(...)                                                                                   \
    do {                                                                                           \
        if (why && whylen)                                                                         \
            snprintf(why, whylen, __VA_ARGS__);                                                    \
    } while (0)

int valid_utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (len == 0)
        return -1;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    int n;
    uint32_t c, min;
    if ((u[0] & 0xE0) == 0xC0) {
        n = 2, c = u[0] & 0x1F, min = 0x80;
    } else if ((u[0] & 0xF0) == 0xE0) {
        n = 3, c = u[0] & 0x0F, min = 0x800;
    } else if ((u[0] & 0xF8) == 0xF0) {
        n = 4, c = u[0] & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    if ((size_t)n > len)
        return -1;
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return -1;
        c = (c << 6) | (u[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return -1;
    *cp = c;
    return n;
}

long valid_utf8_len(const char *s)
{
    size_t len = strlen(s);
    long n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = valid_utf8_next(s + i, len - i, &cp);
        if (k < 0)
            return -1;
        i += (size_t)k;
        n++;
    }
    return n;
}

static int is_cjk(uint32_t c)
{
    return c >= 0x4E00 && c <= 0x9FFF;
}

static int is_alnum(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Walks s as code points; calls ok(cp) for each; checks the length bounds and that the
 * first and last code points satisfy edge (when edge is not NULL). */
static int check_chars(const char *s, long min, long max, int (*ok)(uint32_t),
                       int (*edge)(uint32_t), const char *what, const char *allowed, char *why,
                       size_t whylen)
{
    if (!s) {
        WHY("%s is required", what);
        return -1;
    }
    size_t len = strlen(s);
    long n = 0;
    uint32_t first = 0, last = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = valid_utf8_next(s + i, len - i, &cp);
        if (k < 0) {
            WHY("%s is not valid UTF-8", what);
            return -1;
        }
        if (!ok(cp)) {
            if (cp == ' ')
                WHY("%s must not contain spaces; allowed: %s", what, allowed);
            else
                WHY("%s has a character that is not allowed; allowed: %s", what, allowed);
            return -1;
        }
        if (n == 0)
            first = cp;
        last = cp;
        i += (size_t)k;
        n++;
    }
    if (n < min || n > max) {
        WHY("%s must be %ld to %ld characters long", what, min, max);
        return -1;
    }
    if (edge && (!edge(first) || !edge(last))) {
        WHY("%s must start and end with a Chinese character, a letter or a digit", what);
        return -1;
    }
    return 0;
}

static int name_char(uint32_t c)
{
    return is_cjk(c) || is_alnum(c) || c == '_' || c == '-' || c == '.' || c == '(' || c == ')';
}

static int name_edge(uint32_t c)
{
    return is_cjk(c) || is_alnum(c);
}

static const char name_allowed[] = "Chinese characters, letters, digits and _ - . ( )";

int valid_firmware_name(const char *s, char *why, size_t whylen)
{
    return check_chars(s, 1, VALID_NAME_MAX, name_char, name_edge, "firmwareName", name_allowed,
                       why, whylen);
}

int valid_product_name(const char *s, char *why, size_t whylen)
{
    return check_chars(s, 1, VALID_NAME_MAX, name_char, name_edge, "productName", name_allowed, why,
                       whylen);
}

static int version_char(uint32_t c)
{
    return is_alnum(c) || c == '_' || c == '-' || c == '.';
}

int valid_firmware_version(const char *s, char *why, size_t whylen)
{
    return check_chars(s, 1, OTA_VERSION_MAX, version_char, NULL, "firmwareVersion",
                       "letters, digits and _ - .", why, whylen);
}

static int desc_char(uint32_t c)
{
    if (c == '\n' || c == '\t')
        return 1;
    return !(c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F));
}

int valid_description(const char *s, char *why, size_t whylen)
{
    return check_chars(s, 0, VALID_DESC_MAX, desc_char, NULL, "description", "printable characters",
                       why, whylen);
}

static int file_char(uint32_t c)
{
    return is_cjk(c) || is_alnum(c) || c == '_' || c == '-';
}

int valid_file_name(const char *s, const char **ext, char *why, size_t whylen)
{
    /* swu: SWUpdate's image, raucb: RAUC's bundle (docs/ddi.md) */
    static const char *exts[] = {"tar.gz", "bin", "rom", "zip", "gz", "tar", "swu", "raucb"};
    char base[VALID_FILE_BASE_MAX * 4 + 8];
    if (!s || !*s) {
        WHY("the file needs a file name");
        return -1;
    }
    size_t len = strlen(s);
    const char *found = NULL;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t el = strlen(exts[i]);
        if (len > el + 1 && s[len - el - 1] == '.' && strcasecmp(s + len - el, exts[i]) == 0) {
            found = s + len - el;
            break;
        }
    }
    if (!found) {
        WHY("the file format must be bin, rom, zip, gz, tar, tar.gz, swu or raucb");
        return -1;
    }
    size_t bl = (size_t)(found - 1 - s);
    if (bl >= sizeof base) {
        WHY("the file name must be 1 to 64 characters long without its extension");
        return -1;
    }
    memcpy(base, s, bl);
    base[bl] = '\0';
    char inner[192];
    if (check_chars(base, 1, VALID_FILE_BASE_MAX, file_char, NULL, "the file name",
                    "Chinese characters, letters, digits, _ and -", inner, sizeof inner) != 0) {
        WHY("%s (before the extension)", inner);
        return -1;
    }
    if (ext)
        *ext = found;
    return 0;
}

static int ident_char(uint32_t c)
{
    return is_alnum(c) || c == '_' || c == '-';
}

int valid_identifier(const char *s, char *why, size_t whylen)
{
    return check_chars(s, 1, OTA_IDENT_MAX, ident_char, NULL, "identifier",
                       "letters, digits, _ and -", why, whylen);
}

static int devname_char(uint32_t c)
{
    return !(c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F));
}

int valid_device_name(const char *s, char *why, size_t whylen)
{
    return check_chars(s, 1, VALID_DEVNAME_MAX, devname_char, NULL, "deviceName",
                       "printable characters", why, whylen);
}

int valid_product_key(const char *s)
{
    if (!s || strlen(s) != OTA_PRODUCT_KEY_LEN)
        return -1;
    for (const char *p = s; *p; p++)
        if (!is_alnum((unsigned char)*p))
            return -1;
    return 0;
}

int valid_id(const char *s, int64_t *id)
{
    int64_t v = 0;
    if (!s || !*s || *s == '0' || strlen(s) > 16)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v > 9007199254740992LL)
        return -1;
    *id = v;
    return 0;
}

static int parse_int(const char *s, long max, long *out)
{
    long v = 0;
    if (!*s || strlen(s) > 9)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

int valid_paging(const char *page, const char *page_size, int *out_page, int *out_size,
                 const char **field, char *why, size_t whylen)
{
    long p = 1, z = VALID_PAGE_SIZE_DEFAULT;
    if (page && (parse_int(page, 100000000L, &p) != 0 || p < 1)) {
        *field = "page";
        WHY("page must be a whole number from 1");
        return -1;
    }
    if (page_size &&
        (parse_int(page_size, 1000000L, &z) != 0 || z < 1 || z > VALID_PAGE_SIZE_MAX)) {
        *field = "pageSize";
        WHY("pageSize must be a whole number from 1 to %d", VALID_PAGE_SIZE_MAX);
        return -1;
    }
    *out_page = (int)p;
    *out_size = (int)z;
    return 0;
}
