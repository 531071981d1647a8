/* Printing command lines the way a user would type them (nvbind run --dry-run). */
#pragma once
#include <stddef.h>

/* s unchanged when it is made only of characters a POSIX shell takes literally
 * (letters, digits and %+,-./:=@_), else single-quoted with each ' written as '\''.
 * The empty string becomes ''. Returns malloc'd text, NULL when out of memory. */
char *nvb_shell_quote(const char *s);
/* The words joined by single spaces, each quoted only when it needs it. */
char *nvb_shell_join(char *const *argv, size_t n);
