/* registry: every task the envs module knows, and the benchmark lists built
 * from task names. Adding a task = one extern line and one table line below
 * (add them only once the task's file compiles). Benchmarks name tasks, so a
 * benchmark whose tasks are not all registered yet fails with a clear error. */
#include <stdio.h>
#include <string.h>

#include "core/strutil.h"
#include "task.h"

/* reach, push, pick-place (task_reach_push_pick.c) */
extern const env_task_def env_task_reach_v2, env_task_push_v2, env_task_pick_place_v2;
/* door, drawer, button (envs-tasks-1): extern declarations here */
extern const env_task_def env_task_door_open_v2, env_task_drawer_open_v2,
    env_task_drawer_close_v2, env_task_button_press_topdown_v2;
/* peg, window (envs-tasks-2): extern declarations here */
extern const env_task_def env_task_peg_insert_side_v2, env_task_window_open_v2,
    env_task_window_close_v2;

/* MT50-A: buttons (task_button.c, task_button_press.c), wall/back variants
 * (task_wall_back.c), plate slides (task_plate_slide.c) */
extern const env_task_def env_task_button_press_topdown_wall_v2, env_task_button_press_v2,
    env_task_button_press_wall_v2, env_task_coffee_button_v2, env_task_reach_wall_v2,
    env_task_push_wall_v2, env_task_pick_place_wall_v2, env_task_push_back_v2,
    env_task_plate_slide_v2, env_task_plate_slide_side_v2, env_task_plate_slide_back_v2,
    env_task_plate_slide_back_side_v2;

/* MT50-B: handles (task_handle.c), faucets (task_faucet.c), door-close
 * (task_door.c), door lock (task_door_lock.c), dial (task_dial.c), lever
 * (task_lever.c) */
extern const env_task_def env_task_handle_press_v2, env_task_handle_press_side_v2,
    env_task_handle_pull_v2, env_task_handle_pull_side_v2, env_task_faucet_open_v2,
    env_task_faucet_close_v2, env_task_door_close_v2, env_task_door_lock_v2,
    env_task_door_unlock_v2, env_task_dial_turn_v2, env_task_lever_pull_v2;

/* MT50-C: coffee mug (task_coffee_mug.c), nut and peg (task_nut.c),
 * pick-and-carry (task_carry.c) */
extern const env_task_def env_task_coffee_pull_v2, env_task_coffee_push_v2, env_task_assembly_v2,
    env_task_disassemble_v2, env_task_basketball_v2, env_task_bin_picking_v2,
    env_task_box_close_v2, env_task_hand_insert_v2, env_task_pick_out_of_hole_v2,
    env_task_shelf_place_v2, env_task_peg_unplug_side_v2;

/* MT50-D: pushing to a place (task_push_place.c), tool use (task_tool.c) */
extern const env_task_def env_task_sweep_v2, env_task_sweep_into_v2, env_task_soccer_v2,
    env_task_hammer_v2, env_task_stick_push_v2, env_task_stick_pull_v2;

const env_task_def *const env_task_table[] = {
    &env_task_reach_v2,
    &env_task_push_v2,
    &env_task_pick_place_v2,
    /* envs-tasks-1: door-open-v2, drawer-open-v2, drawer-close-v2, button-press-topdown-v2 */
    &env_task_door_open_v2,
    &env_task_drawer_open_v2,
    &env_task_drawer_close_v2,
    &env_task_button_press_topdown_v2,
    /* envs-tasks-2: peg-insert-side-v2, window-open-v2, window-close-v2 */
    &env_task_peg_insert_side_v2,
    &env_task_window_open_v2,
    &env_task_window_close_v2,
    /* MT50-A */
    &env_task_button_press_topdown_wall_v2,
    &env_task_button_press_v2,
    &env_task_button_press_wall_v2,
    &env_task_coffee_button_v2,
    &env_task_reach_wall_v2,
    &env_task_push_wall_v2,
    &env_task_pick_place_wall_v2,
    &env_task_push_back_v2,
    &env_task_plate_slide_v2,
    &env_task_plate_slide_side_v2,
    &env_task_plate_slide_back_v2,
    &env_task_plate_slide_back_side_v2,
    /* MT50-B */
    &env_task_handle_press_v2,
    &env_task_handle_press_side_v2,
    &env_task_handle_pull_v2,
    &env_task_handle_pull_side_v2,
    &env_task_faucet_open_v2,
    &env_task_faucet_close_v2,
    &env_task_door_close_v2,
    &env_task_door_lock_v2,
    &env_task_door_unlock_v2,
    &env_task_dial_turn_v2,
    &env_task_lever_pull_v2,
    /* MT50-C */
    &env_task_coffee_pull_v2,
    &env_task_coffee_push_v2,
    &env_task_assembly_v2,
    &env_task_disassemble_v2,
    &env_task_basketball_v2,
    &env_task_bin_picking_v2,
    &env_task_box_close_v2,
    &env_task_hand_insert_v2,
    &env_task_pick_out_of_hole_v2,
    &env_task_shelf_place_v2,
    &env_task_peg_unplug_side_v2,
    /* MT50-D */
    &env_task_sweep_v2,
    &env_task_sweep_into_v2,
    &env_task_soccer_v2,
    &env_task_hammer_v2,
    &env_task_stick_push_v2,
    &env_task_stick_pull_v2,
};
const int env_task_table_len = (int)(sizeof env_task_table / sizeof env_task_table[0]);

/* MT10 in the order of spec metaworld-mt10.md's table = one-hot index order. */
static const char *const mt10_tasks[] = {
    "reach-v2",           "push-v2",          "pick-place-v2",
    "door-open-v2",       "drawer-open-v2",   "drawer-close-v2",
    "button-press-topdown-v2", "peg-insert-side-v2", "window-open-v2",
    "window-close-v2",    NULL,
};

/* MT50 in the order of spec metaworld-mt50.md §1 (Meta-World's task ids) =
 * one-hot index order; MT10 keeps its own order above. */
static const char *const mt50_tasks[] = {
    "assembly-v2",
    "basketball-v2",
    "bin-picking-v2",
    "box-close-v2",
    "button-press-topdown-v2",
    "button-press-topdown-wall-v2",
    "button-press-v2",
    "button-press-wall-v2",
    "coffee-button-v2",
    "coffee-pull-v2",
    "coffee-push-v2",
    "dial-turn-v2",
    "disassemble-v2",
    "door-close-v2",
    "door-lock-v2",
    "door-open-v2",
    "door-unlock-v2",
    "hand-insert-v2",
    "drawer-close-v2",
    "drawer-open-v2",
    "faucet-open-v2",
    "faucet-close-v2",
    "hammer-v2",
    "handle-press-side-v2",
    "handle-press-v2",
    "handle-pull-side-v2",
    "handle-pull-v2",
    "lever-pull-v2",
    "peg-insert-side-v2",
    "pick-place-wall-v2",
    "pick-out-of-hole-v2",
    "reach-v2",
    "push-back-v2",
    "push-v2",
    "pick-place-v2",
    "plate-slide-v2",
    "plate-slide-side-v2",
    "plate-slide-back-v2",
    "plate-slide-back-side-v2",
    "peg-unplug-side-v2",
    "soccer-v2",
    "stick-push-v2",
    "stick-pull-v2",
    "push-wall-v2",
    "reach-wall-v2",
    "shelf-place-v2",
    "sweep-into-v2",
    "sweep-v2",
    "window-open-v2",
    "window-close-v2",
    NULL,
};

typedef struct benchmark {
    const char *name;
    const char *summary;
    const char *const *tasks; /* NULL-terminated; NULL for mt1:<task> */
} benchmark;

static const benchmark benchmarks[] = {
    {"mt10", "Meta-World MT10: 10 tasks, one env each", mt10_tasks},
    {"mt50", "Meta-World MT50: 50 tasks, one env each", mt50_tasks},
    {"mt1:<task>", "one task (a bare task name means the same)", NULL},
    {"<task>,<task>,...", "any list of registered tasks, in that order", NULL},
};
#define NBENCH ((int)(sizeof benchmarks / sizeof benchmarks[0]))

const env_task_def *env_task_get(int index)
{
    return (index >= 0 && index < env_task_table_len) ? env_task_table[index] : NULL;
}

int env_task_count(void) { return env_task_table_len; }

const char *env_task_name(int i)
{
    const env_task_def *t = env_task_get(i);
    return t ? t->name : NULL;
}

int env_task_find(const char *name, int *index, mtrl_err *err)
{
    for (int i = 0; i < env_task_table_len; i++)
        if (!strcmp(env_task_table[i]->name, name)) {
            *index = i;
            return 0;
        }
    /* Suggest the three closest names; a substring match counts as close. */
    int best[3] = {-1, -1, -1}, bestd[3] = {1 << 30, 1 << 30, 1 << 30};
    for (int i = 0; i < env_task_table_len; i++) {
        int d = strstr(env_task_table[i]->name, name) ? 0
                                                      : str_edit_distance(name, env_task_table[i]->name);
        for (int s = 0; s < 3; s++)
            if (d < bestd[s]) {
                for (int t = 2; t > s; t--)
                    best[t] = best[t - 1], bestd[t] = bestd[t - 1];
                best[s] = i, bestd[s] = d;
                break;
            }
    }
    char list[256] = "";
    for (int s = 0; s < 3 && best[s] >= 0; s++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s%s", s ? ", " : "", env_task_table[best[s]]->name);
    }
    return err_set(err, MTRL_EINPUT, "unknown task '%s' (closest: %s; `mtrl tasks` lists all)",
                   name, list[0] ? list : "none registered");
}

int env_benchmark_count(void) { return NBENCH; }
const char *env_benchmark_name(int i) { return i >= 0 && i < NBENCH ? benchmarks[i].name : NULL; }
const char *env_benchmark_summary(int i)
{
    return i >= 0 && i < NBENCH ? benchmarks[i].summary : NULL;
}

int env_benchmark_tasks(const char *name, int *idx, int max, int *n, mtrl_err *err)
{
    *n = 0;
    if (!name || !*name)
        return err_set(err, MTRL_EINPUT, "empty benchmark name");
    for (int b = 0; b < NBENCH; b++) {
        if (!benchmarks[b].tasks || strcmp(benchmarks[b].name, name))
            continue;
        int k = 0;
        for (const char *const *t = benchmarks[b].tasks; *t; t++, k++) {
            if (k >= max)
                return err_set(err, MTRL_EINPUT, "benchmark '%s' has more than %d tasks", name, max);
            if (env_task_find(*t, &idx[k], err))
                return err_prefix(err, "benchmark '%s' needs a task that is not registered", name);
        }
        *n = k;
        return 0;
    }
    /* A comma-separated list of tasks, in the given order. */
    if (strchr(name, ',')) {
        char buf[1024];
        if (strlen(name) >= sizeof buf)
            return err_set(err, MTRL_EINPUT, "task list too long: '%.60s...'", name);
        strcpy(buf, name);
        int k = 0;
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save), k++) {
            if (k >= max)
                return err_set(err, MTRL_EINPUT, "task list '%s' has more than %d tasks", name, max);
            if (env_task_find(tok, &idx[k], err))
                return err_prefix(err, "task list '%s'", name);
        }
        if (k == 0)
            return err_set(err, MTRL_EINPUT, "empty task list '%s'", name);
        *n = k;
        return 0;
    }
    /* mt1:<task>, or a bare task name meaning the same. */
    const char *task = name;
    if (!strncmp(name, "mt1:", 4))
        task = name + 4;
    else if (strchr(name, ':'))
        return err_set(err, MTRL_EINPUT, "unknown benchmark '%s' (known: mt10, mt50, mt1:<task>)",
                       name);
    int t = -1;
    if (env_task_find(task, &t, err))
        return err_prefix(err, "benchmark '%s'", name);
    if (max < 1)
        return err_set(err, MTRL_EINPUT, "no room for benchmark '%s'", name);
    idx[0] = t;
    *n = 1;
    return 0;
}
