/* Growable arrays of owned strings and a few string helpers. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

typedef struct nvb_strv {
    char **v;
    size_t n, cap;
} nvb_strv;

int nvb_strv_push(nvb_strv *s, const char *str);          /* copies str */
int nvb_strv_push_take(nvb_strv *s, char *str);           /* takes ownership */
int nvb_strv_pushf(nvb_strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool nvb_strv_contains(const nvb_strv *s, const char *str);
void nvb_strv_free(nvb_strv *s);

bool nvb_startswith(const char *s, const char *prefix);
bool nvb_endswith(const char *s, const char *suffix);
/* Join two path parts with exactly one '/', "a" + "/b" -> "a/b"; root "/" + "/x" -> "/x". */
char *nvb_path_join(const char *a, const char *b);
