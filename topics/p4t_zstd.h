/* SPDX-License-Identifier: Apache-2.0 */
/* Contract revision 1.3 (topics/README.md 6.10): zstd-compressed payloads on the cloud broker,
 * with the dictionaries shipped in this library. Built as libp4topics_zstd, so that what does
 * not compress (libp4term) does not depend on libzstd. */
#ifndef P4T_ZSTD_H
#define P4T_ZSTD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The first four bytes of every zstd frame (RFC 8878: 0xFD2FB528, little-endian). */
#define P4T_ZSTD_MAGIC 0xFD2FB528u
/* The dictionary this library compresses with (README 6.10). */
#define P4T_ZSTD_DICT_ID 32769u
/* The largest window a receiver accepts (2^23 = 8 MiB, above every payload limit): a frame
 * asking for more is refused before any memory is taken for it. */
#define P4T_ZSTD_WINDOW_LOG_MAX 23
/* Payloads up to this size are compressed at a higher level (a live sale costs microseconds
 * either way); larger ones (backlog batches) at one that keeps a 256 KiB batch at ~30 ms. */
#define P4T_ZSTD_SMALL 16384

enum p4t_wire_format {
    P4T_WIRE_JSON = 0, /* anything that does not start with the zstd magic */
    P4T_WIRE_ZSTD = 1, /* starts with 28 B5 2F FD */
};

/* The format of BUF by its first bytes alone (README 6.10): never guesses from the content. */
enum p4t_wire_format p4t_wire_format(const void *buf, size_t len);

/* The Dictionary_ID in the header of the zstd frame BUF (LEN bytes), 0 when it names none or
 * the header cannot be read. Reads the header only. */
uint32_t p4t_zstd_frame_dict(const void *buf, size_t len);
/* True when ID is one of the dictionaries this library holds (it can decompress with it). */
bool p4t_zstd_dict_known(uint32_t id);
/* Writes the known dictionary ids, ascending, as a JSON array ("[32769]") into OUT. Returns 0,
 * or P4T_ETOOBIG when OUT_LEN is short. */
int p4t_zstd_dict_list(char *out, size_t out_len);
/* Copies up to MAX known dictionary ids, ascending, into IDS; returns how many it copied. */
size_t p4t_zstd_dicts(uint32_t *ids, size_t max);

/* Compresses TEXT (LEN bytes) into one zstd frame with dictionary P4T_ZSTD_DICT_ID, its content
 * size and checksum in the frame. *OUT is malloc'd (caller frees), *OUT_LEN its size. Returns
 * 0, P4T_ENOMEM, or P4T_EINVAL (zstd refused; logged through no channel: the caller sends
 * the plain text instead). Thread-safe; the dictionaries are digested once per process. */
int p4t_zstd_pack(const char *text, size_t len, char **out, size_t *out_len);

/* Decompresses BUF (a P4T_WIRE_ZSTD payload of LEN bytes) into *OUT (malloc'd, NUL-terminated,
 * caller frees; *OUT_LEN without the NUL), refusing before it inflates anything a frame that
 * is not exactly one zstd frame, names no dictionary or one this library does not hold, does
 * not declare its content size, declares more than MAX_LEN bytes or a window over
 * P4T_ZSTD_WINDOW_LOG_MAX; and while it inflates, output beyond the declared size, a corrupt
 * block or a checksum mismatch. Returns 0, P4T_ETOOBIG (over MAX_LEN) or P4T_EINVAL with a
 * REASON ("payload: ..."), or P4T_ENOMEM. On failure *OUT is NULL. Thread-safe. */
int p4t_zstd_unpack(const void *buf, size_t len, size_t max_len, char **out, size_t *out_len,
                    char *reason, size_t reason_len);

#endif
