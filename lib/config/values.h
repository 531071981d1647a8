/* Small value parsers shared by the configuration schema, its renderer and the profiles:
 * sizes ("8GB", "512MiB"), percentages ("75%"), environment variable names, driver
 * capability words, and "did you mean" suggestions. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sizes: a whole or decimal number, optionally followed by a unit (case does not matter,
 * a space between is allowed): B; KB, MB, GB, TB (powers of 1000, as SI and Kubernetes
 * count them: "8GB" is 8000000000 bytes); KiB, MiB, GiB, TiB (powers of 1024: "512MiB" is
 * 536870912 bytes). No unit means bytes. The result must be a whole number of bytes that
 * fits in 64 bits. On failure *why (if given) says what is wrong, in words that complete
 * "...is not a size: <why>". */
int nvb_size_parse(const char *s, uint64_t *out, const char **why);
/* bytes as the shortest exact unit string: "16GiB", "8GB", "1536MiB", or "1234" bytes. */
void nvb_size_format(uint64_t bytes, char *buf, size_t len);

/* "75%" or "75" -> 75 (0-100). */
int nvb_percent_parse(const char *s, unsigned *out);

/* POSIX portable environment name: [A-Za-z_][A-Za-z0-9_]*, len bytes of s. */
bool nvb_env_name_valid(const char *s, size_t len);

/* Driver capability words as NVIDIA_DRIVER_CAPABILITIES spells them: utility, compute,
 * video, graphics, display, ngx, compat32, and all. */
extern const char *const nvb_cap_words[]; /* NULL-terminated, "all" last */
int nvb_cap_word_parse(const char *word, size_t len, unsigned *bits);
/* bits -> "graphics,display,..." in nvb_cap_words order, "all" for every bit. Caller frees. */
char *nvb_caps_string(unsigned caps);

/* The candidate closest to word by edit distance (case-insensitive, a swap of two neighbours
 * counts once), or NULL when none is close enough to be a plausible typo. */
const char *nvb_suggest(const char *word, const char *const *candidates, size_t n);
