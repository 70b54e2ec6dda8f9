/* strutil: small string helpers shared by modules that suggest a known name
 * for a misspelt one (config keys, task names). Depends on nothing. */
#ifndef MTRL_CORE_STRUTIL_H
#define MTRL_CORE_STRUTIL_H

/* Levenshtein distance between a and b (insertions, deletions and
 * substitutions of one byte each). Strings longer than STR_EDIT_MAX_LEN bytes
 * are never close: the result is then STR_EDIT_FAR, above any distance of
 * two shorter strings. */
#define STR_EDIT_MAX_LEN 127
#define STR_EDIT_FAR 1000
int str_edit_distance(const char *a, const char *b);

#endif
