/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to libp4topics: strict JSON reading and writing helpers shared by the codecs. */
#ifndef P4T_JSON_H
#define P4T_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "p4t.h"

/* Largest integer a JSON number may carry here, 2^53 - 1. cJSON stores numbers as doubles,
 * exact up to 2^53; 2^53 itself is excluded because 9007199254740993 also rounds to it, so a
 * value read as 2^53 may not be what was sent. */
#define JX_INT_MAX 9007199254740991LL

/* Where a decoder writes its reject reason. PATH is the JSON path of the object being read
 * ("" at the top, "lines[2]" inside), so every reason names its field. */
struct jx {
    char *reason;
    size_t reason_len;
    char path[96];
    char *text; /* private NUL-terminated copy of the payload, owned until jx_finish */
    size_t text_len;
};

/* Character classes a string field can be held to. */
enum jx_charset {
    JX_ID,        /* [a-z0-9][a-z0-9_-]* (tenant, register) */
    JX_STORE,     /* an id that is not "_all" (ids never start with '_' anyway) */
    JX_UUID,      /* canonical lowercase 8-4-4-4-12 */
    JX_PRINTABLE, /* ASCII 0x21..0x7e: skus, customers, request ids */
    JX_TENDER,    /* [a-z0-9_] */
    JX_KIND,      /* [a-z_] */
    JX_TEXT,      /* UTF-8 without control characters (messages, reasons) */
    JX_TS,        /* YYYY-MM-DDTHH:MM:SS.mmmZ, a real date */
};

/* Writes "PATH.KEY: <message>" (or "KEY: ..." at the top level, or "PATH: ..." when KEY is
 * NULL) into J's reason. Always returns P4T_EINVAL so callers can `return jx_fail(...)`. */
int jx_fail(struct jx *j, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses LEN bytes of BUF as one JSON object of at most MAX_LEN bytes. *ROOT is the caller's
 * (cJSON_Delete). P4T_ETOOBIG over MAX_LEN, P4T_EINVAL for anything that is not a single,
 * complete JSON object (embedded NUL, syntax error, trailing bytes, array, scalar). Every
 * successful or failed jx_parse is followed by jx_finish. */
int jx_parse(struct jx *j, const char *buf, size_t len, size_t max_len, cJSON **root);
/* Ends a decode whose field checks returned RC: when they passed, rejects numbers written
 * with a fraction, an exponent or a leading zero (v1 numbers are integers in their text too;
 * the field checks already named the field of any number that is not integral in value).
 * Frees J's copy of the text. Returns the final status. */
int jx_finish(struct jx *j, int rc);

/* Rejects a key of OBJ that is not in ALLOWED (NULL-terminated) or that appears twice. cJSON
 * keeps both copies of a repeated key, so without this "total" could mean two things. */
int jx_keys(struct jx *j, const cJSON *obj, const char *const *allowed);

/* Reads integer KEY of OBJ into *OUT, which must be a number, integral, within MIN..MAX.
 * A missing key is P4T_EINVAL when REQUIRED, else *OUT = DEF and *PRESENT (if given) false. */
int jx_int(struct jx *j, const cJSON *obj, const char *key, bool required, int64_t min,
           int64_t max, int64_t def, int64_t *out, bool *present);

/* Reads string KEY of OBJ into OUT (OUT_LEN bytes with the NUL) after checking its length
 * (MIN_LEN..OUT_LEN-1 bytes) and CHARSET. A missing optional key leaves OUT "". */
int jx_str(struct jx *j, const cJSON *obj, const char *key, bool required, size_t min_len,
           enum jx_charset charset, char *out, size_t out_len);

/* Checks string S (LEN bytes) against CHARSET; returns NULL when it fits, else what is wrong. */
const char *jx_charset_check(const char *s, size_t len, enum jx_charset charset);

/* Reads boolean KEY of OBJ (required). */
int jx_bool(struct jx *j, const cJSON *obj, const char *key, bool *out);

/* Returns the member KEY of OBJ, which must be of cJSON type TYPE (cJSON_Array, cJSON_Object).
 * *OUT is NULL for a missing optional key. The item is borrowed from OBJ. */
int jx_member(struct jx *j, const cJSON *obj, const char *key, bool required, int type,
              const cJSON **out);

/* Sets J's path to PARENT_PATH + "." + KEY (or + "[I]" when KEY is NULL). */
void jx_path(struct jx *j, const char *parent_path, const char *key, long i);

/* Adds integer V to OBJ under KEY as raw digits: encoders never round-trip money through a
 * double. Returns 0 or P4T_ENOMEM. */
int jx_add_int(cJSON *obj, const char *key, int64_t v);
/* Adds string V (bounded by CAP bytes: an unterminated struct field is P4T_EINVAL). */
int jx_add_str(cJSON *obj, const char *key, const char *v, size_t cap);
/* Prints ROOT compactly into a malloc'd string handed to *OUT. Returns 0 or P4T_ENOMEM. */
int jx_print(const cJSON *root, char **out);
/* Prints a decoded value object with every integer as exact digits (converts VALUE's number
 * nodes in place). *OUT is malloc'd, the caller frees it. */
int jx_print_value(cJSON *value, char **out);

/* Length of S if it is NUL-terminated within CAP bytes, else CAP (caller treats as invalid). */
size_t jx_strnlen(const char *s, size_t cap);

/* Reads timestamp string KEY of OBJ into *MS (Unix ms). A missing optional key sets *PRESENT
 * false and *MS 0. PRESENT may be NULL for a required key. */
int jx_ts(struct jx *j, const cJSON *obj, const char *key, bool required, int64_t *ms,
          bool *present);
/* Adds MS as a ts string under KEY. P4T_EINVAL when MS cannot be spelled as a ts. */
int jx_add_ts(cJSON *obj, const char *key, int64_t ms);
/* Reads a string KEY that must be one of NAMES (N entries) into *OUT (its index); WHY is the
 * reason for any other value ("must be sale, return or void"). */
int jx_enum(struct jx *j, const cJSON *obj, const char *key, const char *const *names,
            size_t n, const char *why, int *out);

/* Revision 1.1 value schemas, shared by the downlink decoder, the change-log value codecs and
 * the changes decoder (so an entity's value is checked by one piece of code). Each reads OBJ
 * (already known to be an object) with J's path as the prefix of its reasons. */
int price_state_read(struct jx *j, const cJSON *obj, struct p4t_price_state *out);
int promo_read(struct jx *j, const cJSON *obj, struct p4t_promo *out);
int customer_read(struct jx *j, const cJSON *obj, struct p4t_customer *out);
int loyalty_value_read(struct jx *j, const cJSON *obj, int64_t *balance);
/* Builders of the same objects in canonical field order; *OUT is the caller's (cJSON_Delete).
 * They check only what JSON cannot carry (unterminated strings, unknown enum values, ts out of
 * range); callers validate the printed text with the matching reader. */
int price_state_build(const struct p4t_price_state *s, cJSON **out);
int promo_build(const struct p4t_promo *p, cJSON **out);
int customer_build(const struct p4t_customer *c, cJSON **out);
/* Reads one uplink sale record OBJ (an item of a batch) like p4t_sale_record_decode, minus the
 * text-level checks the batch's own parse already did. OUT and *GW_SEQ are overwritten. */
int sale_record_read(struct jx *j, const cJSON *obj, struct p4t_sale *out, int64_t *gw_seq,
                     char (*flags)[P4T_KIND_MAX + 1], size_t *n_flags);
/* A decoder's field reader: checks OBJ, the top-level object, and fills ARG. */
typedef int (*jx_read_fn)(struct jx *j, const cJSON *obj, void *arg);
/* Decodes BUF as one object of at most MAX_LEN bytes with READ, the shared shape of every
 * decoder: clears REASON, parses, reads, ends with jx_finish. READ gets ARG. A decoder whose
 * READ allocates uses this and frees on failure itself; every other decoder uses jx_decode. */
int jx_decode_with(const char *buf, size_t len, size_t max_len, jx_read_fn read, void *arg,
                   char *reason, size_t reason_len);
/* jx_decode_with into OUT (OUT_SIZE bytes), which is zeroed before reading and again on any
 * failure: a decoder's output is fully overwritten and never half a message. */
int jx_decode(const char *buf, size_t len, size_t max_len, jx_read_fn read, void *out,
              size_t out_size, char *reason, size_t reason_len);

/* An encoder's self-check: decodes TEXT (LEN bytes, NUL-terminated) with the codec's own
 * decoder into SCRATCH, a zeroed struct of the size the encoder named, and frees whatever that
 * decode allocated. ARG is the encoder's: what the decoder needs besides the text, or NULL. */
typedef int (*jx_check_fn)(const char *text, size_t len, void *scratch, const void *arg);
/* Ends an encoder that built ROOT with status RC (ROOT may be NULL when RC is not 0): when RC
 * is 0, prints ROOT and runs CHECK on the text, so that every message this library sends is
 * one it accepts. Always frees ROOT. On success *OUT is the malloc'd text, the caller's to
 * free; on failure *OUT is NULL and the first failing status is returned. The scratch struct
 * is malloc'd: some are tens of KB, too much for a caller's stack. */
int jx_encode(cJSON *root, int rc, jx_check_fn check, size_t scratch_size, const void *arg,
              char **out);
/* Appends a new empty object to array ARR and returns it (borrowed from ARR), or NULL when
 * out of memory. */
cJSON *jx_append_object(cJSON *arr);

#endif
