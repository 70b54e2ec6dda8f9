/* Fuzz target: the checkpoint reader as `mtrl eval` uses it
 * (train_load_agent: format version, the stored config, the agent's
 * networks, Adam moments and combiner state). Input: the file's bytes. */
#include "fuzz_common.h"

#include "cli/train.h"

int fuzz_checkpoint_one(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("checkpoint.h5", data, size);
    mtrl_config *cfg = malloc(sizeof *cfg);
    sac_agent *agent = NULL;
    mtrl_err e = {0};
    if (cfg && train_load_agent(path, cfg, &agent, &e) == 0 && !agent)
        abort();
    sac_destroy(agent);
    free(cfg);
    fuzz_check_closed();
    return 0;
}

FUZZ_ENTRY(fuzz_checkpoint_one)
