/* strutil: string helpers (see strutil.h). */
#include "core/strutil.h"

#include <string.h>

int str_edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > STR_EDIT_MAX_LEN || lb > STR_EDIT_MAX_LEN)
        return STR_EDIT_FAR;
    /* Two rows of the dynamic-programming table suffice. */
    int prev[STR_EDIT_MAX_LEN + 1], cur[STR_EDIT_MAX_LEN + 1];
    for (int j = 0; j <= lb; j++)
        prev[j] = j;
    for (int i = 1; i <= la; i++) {
        cur[0] = i;
        for (int j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (size_t)(lb + 1));
    }
    return prev[lb];
}
