/* json: the one piece of JSON output that needs care, a string value.
 * Paths and messages can hold quotes, backslashes, control characters and
 * bytes that are not UTF-8; each must still give valid JSON.
 * Depends on nothing. */
#ifndef MTRL_CORE_JSON_H
#define MTRL_CORE_JSON_H

#include <stdio.h>

/* Writes s as a quoted JSON string: '"' and '\\' escaped, control characters
 * as \uXXXX (\n, \t, ... by name), valid UTF-8 as is, and each byte of an
 * invalid UTF-8 sequence as U+FFFD (JSON text must be Unicode). NULL is
 * written as null. */
void json_put_str(FILE *f, const char *s);

#endif
