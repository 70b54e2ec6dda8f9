/* assets: the scene XML files of src/envs/assets, embedded at build time by
 * tools/embed.c (build/gen/assets.c). Terminated by an entry with name NULL. */
#ifndef MTRL_ENVS_ASSETS_H
#define MTRL_ENVS_ASSETS_H

#include <stddef.h>

typedef struct env_asset {
    const char *name; /* file name, e.g. "sawyer_base.xml" */
    const char *data; /* file content, NUL-terminated */
    size_t size;      /* bytes, without the terminating NUL */
} env_asset;

extern const env_asset env_assets[];

#endif
