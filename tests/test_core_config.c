#include "testutil.h"

#include <glob.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cfg.h"

/* Writes text to <tmpdir>/<rel> (creating one directory level) and returns
 * the full path in a static rotating buffer. */
static const char *put(const char *rel, const char *text)
{
    static char bufs[8][512];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, 512, "%s/%s", test_tmpdir(), rel);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", p);
    *strrchr(dir, '/') = 0;
    for (char *s = dir + strlen(test_tmpdir()) + 1; *s; s++) /* mkdir -p */
        if (*s == '/') {
            *s = 0;
            mkdir(dir, 0755);
            *s = '/';
        }
    mkdir(dir, 0755);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static void expect_error(const char *path, const char *const *sets, int n, const char *msg)
{
    mtrl_config c;
    mtrl_err e = {0};
    int rc = cfg_load(&c, path, sets, n, &e);
    if (rc != MTRL_EINPUT || strcmp(e.msg, msg))
        fprintf(stderr, "rc %d\n  got:  %s\n  want: %s\n", rc, e.msg, msg);
    assert_int_equal(rc, MTRL_EINPUT);
    assert_string_equal(e.msg, msg);
}

static void test_defaults(void **st)
{
    (void)st;
    mtrl_config c;
    memset(&c, 0x5a, sizeof c);
    cfg_defaults(&c);
    mtrl_err e = {0};
    assert_int_equal(cfg_check(&c, &e), 0);
    assert_string_equal(c.env.benchmark, "mt10");
    assert_int_equal(cfg_num_tasks(&c), 10);
    assert_int_equal(c.env.max_episode_steps, 500);
    assert_int_equal(c.agent.actor_hidden.n, 3);
    assert_int_equal(c.agent.actor_hidden.v[2], 400);
    assert_int_equal(c.agent.critic_hidden.v[0], 400);
    assert_int_equal(c.agent.batch_size, 1280);
    assert_true(c.agent.discount == 0.99);
    assert_true(c.agent.tau == 0.005);
    assert_true(c.agent.actor_lr == 3e-4 && c.agent.critic_lr == 3e-4 && c.agent.alpha_lr == 3e-4);
    assert_true(c.agent.adam_eps == 1e-8);
    assert_true(c.agent.target_entropy == -4.0);
    assert_true(c.agent.log_std_min == -20.0 && c.agent.log_std_max == 2.0);
    assert_int_equal(c.agent.task_input, CFG_TASK_INPUT_ONEHOT);
    assert_int_equal(c.agent.alpha, CFG_ALPHA_PER_TASK);
    assert_int_equal(c.agent.init_steps, 1500);
    assert_true(c.replay.capacity == 4000000);
    assert_int_equal(c.replay.sampling, CFG_SAMPLING_BALANCED);
    assert_int_equal(c.replay.reward_norm, CFG_REWARD_NORM_STD);
    assert_int_equal(c.mtl.method, CFG_MTL_CAGRAD);
    assert_true(c.mtl.cagrad_c == 0.9);
    assert_int_equal(c.mtl.famo_scale, CFG_FAMO_PAPER);
    assert_int_equal(c.mtl.cagrad_steps, 20);
    assert_true(c.mtl.on_critic && c.mtl.on_actor && c.mtl.on_alpha);
    assert_int_equal(c.eval.episodes, 1);
    assert_true(c.eval.deterministic);
    assert_true(c.run.iterations == 2000000);
    assert_string_equal(c.run.runs_dir, "runs");
    assert_string_equal(c.run.name, "");
    assert_string_equal(cfg_enum_word("mtl.method", CFG_MTL_CAGRAD_FAST), "cagrad_fast");
    assert_string_equal(cfg_enum_word("replay.sampling", CFG_SAMPLING_UNIFORM), "uniform");
    assert_null(cfg_enum_word("agent.batch_size", 0));
    assert_null(cfg_enum_word("mtl.method", CFG_MTL_COUNT));
}

static void test_valid_file(void **st)
{
    (void)st;
    const char *p = put("valid.yaml", "# comment\n"
                                      "run:\n"
                                      "  seed: 42\n"
                                      "  iterations: 4_000_000\n"
                                      "  threads: 2\n"
                                      "env: {benchmark: 'mt1:reach-v2', goals: sampled}\n"
                                      "agent:\n"
                                      "  actor_hidden: [64, 32]\n"
                                      "  critic_hidden:\n"
                                      "    - 128\n"
                                      "    - 128\n"
                                      "    - 128\n"
                                      "    - 128\n"
                                      "  batch_size: 7\n"
                                      "  discount: 1\n"
                                      "  actor_lr: 1e-3\n"
                                      "  init_steps: 2e4\n"
                                      "  task_input: none\n"
                                      "mtl.method: pcgrad\n"
                                      "mtl:\n"
                                      "  on_alpha: no\n"
                                      "eval:\n"
                                      "  deterministic: False\n"
                                      "log:\n");
    mtrl_config c;
    mtrl_err e = {0};
    assert_int_equal(cfg_load(&c, p, NULL, 0, &e), 0);
    assert_true(c.run.seed == 42);
    assert_true(c.run.iterations == 4000000);
    assert_int_equal(c.run.threads, 2);
    assert_string_equal(c.env.benchmark, "mt1:reach-v2");
    assert_int_equal(cfg_num_tasks(&c), 1);
    assert_string_equal(cfg_mt1_task(&c), "reach-v2");
    assert_int_equal(c.env.goals, CFG_GOALS_SAMPLED);
    assert_int_equal(c.agent.actor_hidden.n, 2);
    assert_int_equal(c.agent.actor_hidden.v[0], 64);
    assert_int_equal(c.agent.actor_hidden.v[1], 32);
    assert_int_equal(c.agent.critic_hidden.n, 4);
    assert_int_equal(c.agent.batch_size, 7); /* one task: any batch divides */
    assert_true(c.agent.discount == 1.0);
    assert_true(c.agent.actor_lr == 1e-3);
    assert_true(c.agent.init_steps == 20000);
    assert_int_equal(c.agent.task_input, CFG_TASK_INPUT_NONE);
    assert_int_equal(c.mtl.method, CFG_MTL_PCGRAD);
    assert_false(c.mtl.on_alpha);
    assert_true(c.mtl.on_actor);
    assert_false(c.eval.deterministic);
    /* Any combiner is valid on one task (it is the identity there). */
    const char *fast[] = {"mtl.method=cagrad_fast", "mtl.cagrad_fast_subset=4"};
    mtrl_config f;
    assert_int_equal(cfg_load(&f, p, fast, 2, &e), 0);
    /* Untouched keys keep their defaults; the run is named after the file. */
    assert_true(c.agent.tau == 0.005);
    assert_string_equal(c.run.name, "valid");
    /* An empty file is a valid config: all defaults. */
    mtrl_config d, x;
    cfg_defaults(&d);
    assert_int_equal(cfg_load(&x, put("empty.yaml", ""), NULL, 0, &e), 0);
    assert_string_equal(x.run.name, "empty");
    snprintf(x.run.name, sizeof x.run.name, "%s", d.run.name);
    assert_true(cfg_equal(&x, &d));
}

static void test_includes(void **st)
{
    (void)st;
    put("inc/a.yaml", "agent:\n  batch_size: 10\n  discount: 0.5\nrun:\n  seed: 5\n");
    put("inc/b.yaml", "include: a.yaml\nagent:\n  batch_size: 20\n  tau: 0.25\n");
    put("inc/c.yaml", "run:\n  seed: 9\n  threads: 3\n");
    /* The include key comes last, yet the including file's own keys win. */
    const char *child = put("inc/sub/child.yaml", "agent:\n  batch_size: 30\n"
                                                  "include: [../b.yaml, ../c.yaml]\n");
    mtrl_config c;
    mtrl_err e = {0};
    assert_int_equal(cfg_load(&c, child, NULL, 0, &e), 0);
    assert_int_equal(c.agent.batch_size, 30); /* child over b over a */
    assert_true(c.agent.discount == 0.5);     /* from a, through b */
    assert_true(c.agent.tau == 0.25);         /* from b */
    assert_true(c.run.seed == 9);             /* c, listed after b, wins over a */
    assert_int_equal(c.run.threads, 3);
    assert_string_equal(c.run.name, "child");

    /* Overrides come after every file. */
    const char *sets[] = {"agent.batch_size=40", "run.seed = 11"};
    assert_int_equal(cfg_load(&c, child, sets, 2, &e), 0);
    assert_int_equal(c.agent.batch_size, 40);
    assert_true(c.run.seed == 11);

    /* A relative include is relative to the including file, not the cwd. */
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    char dir[600];
    snprintf(dir, sizeof dir, "%s/inc", test_tmpdir());
    assert_int_equal(chdir(dir), 0);
    int rc = cfg_load(&c, "sub/child.yaml", NULL, 0, &e);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    assert_true(c.agent.tau == 0.25);
}

/* The exact message of the project's contract, with the path as given. */
static void test_contract_message(void **st)
{
    (void)st;
    put("proj/configs/base.yaml", "agent:\n  batch_size: 1280\n");
    put("proj/configs/mt10/cagrad.yaml", "# MT10 CAGrad\n"
                                         "include: ../base.yaml\n"
                                         "\n"
                                         "run:\n"
                                         "  seed: 1\n"
                                         "env:\n"
                                         "  benchmark: mt10\n"
                                         "mtl:\n"
                                         "  method: cagrad\n"
                                         "  cagrad_c: 0.9\n"
                                         "agent:\n"
                                         "  batch_size: abc\n");
    put("proj/configs/mt50/loop.yaml", "include: ../mt50/loop2.yaml\n");
    put("proj/configs/mt50/loop2.yaml", "run:\n  seed: 2\ninclude:\n  - loop.yaml\n");
    put("proj/configs/mt50/bad_batch.yaml",
        "include: ../base.yaml\nenv:\n  benchmark: mt50\n");
    put("proj/configs/mt50/missing.yaml", "run:\n  seed: 2\ninclude: ../nothere.yaml\n");
    char cwd[1024], dir[600];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(dir, sizeof dir, "%s/proj", test_tmpdir());
    assert_int_equal(chdir(dir), 0);
    expect_error("configs/mt10/cagrad.yaml", NULL, 0,
                 "configs/mt10/cagrad.yaml:12: agent.batch_size: expected a positive integer, "
                 "got \"abc\"");
    expect_error("configs/mt50/loop.yaml", NULL, 0,
                 "configs/mt50/loop2.yaml:4: include: include loop: configs/mt50/loop.yaml -> "
                 "configs/mt50/loop2.yaml -> configs/mt50/loop.yaml");
    /* Cross-field: the message points at the line that set the batch. */
    expect_error("configs/mt50/bad_batch.yaml", NULL, 0,
                 "configs/base.yaml:2: agent.batch_size: 1280 is not divisible by the 50 tasks "
                 "of mt50 (replay.sampling: balanced); use 1250 or 1300");
    const char *fix[] = {"agent.batch_size=1300"};
    mtrl_config c;
    mtrl_err e = {0};
    assert_int_equal(cfg_load(&c, "configs/mt50/bad_batch.yaml", fix, 1, &e), 0);
    const char *bad[] = {"agent.batch_size=1290"};
    expect_error("configs/mt50/bad_batch.yaml", bad, 1,
                 "--set agent.batch_size=1290: 1290 is not divisible by the 50 tasks of mt50 "
                 "(replay.sampling: balanced); use 1250 or 1300");
    const char *uni[] = {"replay.sampling=uniform"};
    assert_int_equal(cfg_load(&c, "configs/mt50/bad_batch.yaml", uni, 1, &e), 0);
    expect_error("configs/mt50/missing.yaml", NULL, 0,
                 "configs/mt50/missing.yaml:3: include: cannot read configs/nothere.yaml: No "
                 "such file or directory");
    expect_error("configs/none.yaml", NULL, 0,
                 "configs/none.yaml: cannot read: No such file or directory");
    assert_int_equal(chdir(cwd), 0);
}

static void test_bad_files(void **st)
{
    (void)st;
    char want[2048];
    const char *p;
#define EXPECT(rel, text, fmt_tail)                                                          \
    do {                                                                                     \
        p = put(rel, text);                                                                  \
        snprintf(want, sizeof want, "%s" fmt_tail, p);                                       \
        expect_error(p, NULL, 0, want);                                                      \
    } while (0)

    EXPECT("e1.yaml", "agent:\n  batch_sise: 5\n",
           ":2: agent.batch_sise: unknown key (did you mean agent.batch_size?)");
    EXPECT("e2.yaml", "agent:\n  capacity: 5\n",
           ":2: agent.capacity: unknown key (did you mean replay.capacity?)");
    EXPECT("e3.yaml", "agnt:\n  batch_size: 5\n", ":1: agnt: unknown key (did you mean agent?)");
    EXPECT("e4.yaml", "agent:\n  zzzzzzzz: 5\n",
           ":2: agent.zzzzzzzz: unknown key (mtrl config --keys lists them)");
    EXPECT("e5.yaml", "agent:\n  discount: 1.5\n",
           ":2: agent.discount: expected a number in [0, 1], got \"1.5\"");
    EXPECT("e6.yaml", "agent:\n  tau: 0\n",
           ":2: agent.tau: expected a number in (0, 1], got \"0\"");
    EXPECT("e7.yaml", "agent:\n  batch_size: 0\n",
           ":2: agent.batch_size: expected a positive integer, got \"0\"");
    EXPECT("e8.yaml", "agent:\n  batch_size: 12.5\n",
           ":2: agent.batch_size: expected a positive integer, got \"12.5\"");
    EXPECT("e9.yaml", "agent:\n  batch_size: 99999999999\n",
           ":2: agent.batch_size: expected a positive integer, got \"99999999999\"");
    EXPECT("e10.yaml", "mtl:\n  method: cagradd\n",
           ":2: mtl.method: expected one of mean, sum, pcgrad, cagrad, cagrad_fast, mgda, "
           "aligned_mtl, aligned_mtl_ub, imtl_g, graddrop, rlw, nash_mtl, famo, upgrad, "
           "dualproj, config, got \"cagradd\"");
    EXPECT("e11.yaml", "eval:\n  deterministic: maybe\n",
           ":2: eval.deterministic: expected true or false, got \"maybe\"");
    EXPECT("e12.yaml", "agent:\n  actor_hidden:\n    - 64\n    - 0\n",
           ":4: agent.actor_hidden[1]: expected an integer in [1, 65536], got \"0\"");
    EXPECT("e13.yaml", "agent:\n  actor_hidden: 400\n",
           ":2: agent.actor_hidden: expected a list of 1 to 16 integers in [1, 65536], like "
           "[400, 400, 400], got \"400\"");
    EXPECT("e14.yaml", "agent:\n  actor_hidden: []\n",
           ":2: agent.actor_hidden: expected a list of 1 to 16 integers in [1, 65536], like "
           "[400, 400, 400], got a list of 0 items");
    EXPECT("e15.yaml", "agent:\n  batch_size: [1, 2]\n",
           ":2: agent.batch_size: expected a positive integer, got a list");
    EXPECT("e16.yaml", "agent:\n  batch_size:\n",
           ":2: agent.batch_size: expected a positive integer, got an empty value");
    EXPECT("e17.yaml", "agent: 3\n", ":1: agent: expected a mapping of agent.* keys, got a value");
    EXPECT("e18.yaml", "agent:\n  batch_size: 5\n  batch_size: 6\n",
           ":3: agent.batch_size: duplicate key (first at line 2)");
    EXPECT("e19.yaml", "- 1\n- 2\n",
           ":1: expected a mapping of sections (run, env, agent, replay, mtl, eval, log), got a "
           "list");
    EXPECT("e20.yaml", "run:\n  seed: 1\n---\nrun:\n  seed: 2\n",
           ":4: a second YAML document; a config is one document");
    EXPECT("e21.yaml", "env:\n  benchmark: mt20\n",
           ":2: env.benchmark: expected mt10, mt50 or mt1:<task> (e.g. mt1:reach-v2), got \"mt20\"");
    EXPECT("e23.yaml", "include: {a: 1}\n",
           ":1: include: expected a file path or a list of file paths, got a mapping");
    EXPECT("e24.yaml", "agent:\n  log_std_min: 3\n",
           ":2: agent.log_std_min: 3 is not below agent.log_std_max (2)");
    EXPECT("e24b.yaml", "agent:\n  log_std_max: -30\n",
           ":2: agent.log_std_max: -30 is not above agent.log_std_min (-20)");
    /* Only the benchmark was set: it is what the message points at. */
    EXPECT("e24c.yaml", "run:\n  seed: 1\nenv:\n  benchmark: mt50\n",
           ":4: env.benchmark: the 50 tasks of mt50 do not divide agent.batch_size 1280 "
           "(replay.sampling: balanced); use 1250 or 1300 for agent.batch_size");
    EXPECT("e24d.yaml", "env:\n  benchmark: mt50\nagent:\n  batch_size: 50\nmtl:\n  method: cagrad_fast\n"
           "  cagrad_fast_subset: 50\n",
           ":7: mtl.cagrad_fast_subset: 50 sampled tasks leave no remainder among the 50 tasks of "
           "mt50; use 1 to 49, or mtl.method: cagrad");
    EXPECT("e25.yaml", "mtl:\n  method: cagrad_fast\n  cagrad_fast_subset: 10\n",
           ":3: mtl.cagrad_fast_subset: 10 sampled tasks leave no remainder among the 10 tasks "
           "of mt10; use 1 to 9, or mtl.method: cagrad");
    EXPECT("e26.yaml", "agent:\n  adam_eps: nan\n",
           ":2: agent.adam_eps: expected a number in (0, 1], got \"nan\"");
#undef EXPECT
    /* A missing include is named by its path as resolved from the including file. */
    p = put("e22.yaml", "include: 5x.yaml\n");
    snprintf(want, sizeof want, "%s:1: include: cannot read %s/5x.yaml: No such file or directory",
             p, test_tmpdir());
    expect_error(p, NULL, 0, want);
}

static void test_self_include_and_yaml_syntax(void **st)
{
    (void)st;
    const char *p = put("self.yaml", "include: self.yaml\n");
    mtrl_config c;
    mtrl_err e = {0};
    assert_int_equal(cfg_load(&c, p, NULL, 0, &e), MTRL_EINPUT);
    char want[1200];
    snprintf(want, sizeof want, "%s:1: include: include loop: %s -> %s", p, p, p);
    assert_string_equal(e.msg, want);

    /* libyaml's own line and column, behind file: */
    p = put("syntax.yaml", "agent:\n  batch_size: 3\n   x: 4\n");
    assert_int_equal(cfg_load(&c, p, NULL, 0, &e), MTRL_EINPUT);
    snprintf(want, sizeof want, "%s:3:5: bad YAML: mapping values are not allowed in this context",
             p);
    assert_string_equal(e.msg, want);
    p = put("syntax2.yaml", "run:\n  seed: 1\nagent:\n  actor_hidden: [1, 2\n");
    assert_int_equal(cfg_load(&c, p, NULL, 0, &e), MTRL_EINPUT);
    snprintf(want, sizeof want, "%s:5:1: bad YAML: did not find expected ',' or ']' (while "
                                "parsing a flow sequence started at line 4)",
             p);
    assert_string_equal(e.msg, want);
    p = put("tab.yaml", "agent:\n\tbatch_size: 3\n");
    assert_int_equal(cfg_load(&c, p, NULL, 0, &e), MTRL_EINPUT);
    snprintf(want, sizeof want, "%s:2:", p);
    assert_memory_equal(e.msg, want, strlen(want));
    assert_non_null(strstr(e.msg, "bad YAML"));
}

static void test_overrides(void **st)
{
    (void)st;
    mtrl_config c, before;
    cfg_defaults(&c);
    mtrl_err e = {0};
    assert_int_equal(cfg_apply_override(&c, "agent.batch_size=256", &e), 0);
    assert_int_equal(c.agent.batch_size, 256);
    assert_int_equal(cfg_apply_override(&c, "agent.actor_hidden=[64, 64]", &e), 0);
    assert_int_equal(c.agent.actor_hidden.n, 2);
    assert_int_equal(cfg_apply_override(&c, "run.runs_dir=a b: c # d", &e), 0);
    assert_string_equal(c.run.runs_dir, "a b: c # d"); /* strings taken as written */
    assert_int_equal(cfg_apply_override(&c, "run.name=\"quoted\"", &e), 0);
    assert_string_equal(c.run.name, "quoted");
    assert_int_equal(cfg_apply_override(&c, "env.benchmark=mt50", &e), 0);
    assert_int_equal(cfg_apply_override(&c, "mtl.on_actor=off", &e), 0);
    assert_false(c.mtl.on_actor);
    assert_int_equal(cfg_apply_override(&c, "agent.adam_eps=1e-6", &e), 0);
    assert_true(c.agent.adam_eps == 1e-6);

    struct {
        const char *kv, *msg;
    } bad[] = {
        {"agent.batch_size=abc", "--set agent.batch_size=abc: expected a positive integer, got \"abc\""},
        {"agent.batch_size=", "--set agent.batch_size=: expected a positive integer, got an empty value"},
        {"agent.batch_size", "--set agent.batch_size: expected key.path=value"},
        {"=5", "--set =5: expected key.path=value"},
        {"agent.batch_sise=5", "--set agent.batch_sise=5: unknown key agent.batch_sise (did you mean agent.batch_size?)"},
        {"agent=5", "--set agent=5: agent is a section; set one of its keys (agent.<key>=value)"},
        {"include=x.yaml", "--set include=x.yaml: unknown key include (mtrl config --keys lists them)"},
        {"mtl.method=PCGrad", "--set mtl.method=PCGrad: expected one of mean, sum, pcgrad, cagrad, "
                              "cagrad_fast, mgda, aligned_mtl, aligned_mtl_ub, imtl_g, graddrop, rlw, "
                              "nash_mtl, famo, upgrad, dualproj, config, got \"PCGrad\""},
        {"agent.actor_hidden=[64,x]", "--set agent.actor_hidden=[64,x]: agent.actor_hidden[1]: "
                                      "expected an integer in [1, 65536], got \"x\""},
        {"agent.actor_hidden=[64", "--set agent.actor_hidden=[64: expected a list of 1 to 16 integers "
                                   "in [1, 65536], like [400, 400, 400], got \"[64\" (did not find "
                                   "expected ',' or ']')"},
        {"env.max_episode_steps=0", "--set env.max_episode_steps=0: expected an integer in [1, 100000], got \"0\""},
        {"env.goal_seed=-2", "--set env.goal_seed=-2: expected an integer >= -1, got \"-2\""},
        {"agent.tau=0x10", "--set agent.tau=0x10: expected a number in (0, 1], got \"0x10\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        before = c;
        e.msg[0] = 0;
        int rc = cfg_apply_override(&c, bad[i].kv, &e);
        if (rc != MTRL_EINPUT || strcmp(e.msg, bad[i].msg))
            fprintf(stderr, "got:  %s\nwant: %s\n", e.msg, bad[i].msg);
        assert_int_equal(rc, MTRL_EINPUT);
        assert_string_equal(e.msg, bad[i].msg);
        assert_true(cfg_equal(&c, &before)); /* a failed override changes nothing */
        assert_string_equal(c.run.name, before.run.name);
    }
}

/* One override per key, each to a value different from its default. */
static const char *const nondefault[] = {
    "run.name=mt10_x-1.b+c",
    "run.runs_dir=/tmp/we\"ird\\ na:me #1 {x}",
    "run.seed=9007199254740993",
    "run.iterations=123456789",
    "run.threads=7",
    "env.benchmark=mt50",
    "env.goals=sampled",
    "env.goal_seed=77",
    "env.max_episode_steps=151",
    "agent.actor_hidden=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]",
    "agent.critic_hidden=[65536]",
    "agent.task_input=none",
    "agent.discount=0.30000000000000004",
    "agent.tau=1e-300",
    "agent.actor_lr=0.1",
    "agent.critic_lr=2.5e-5",
    "agent.alpha_lr=0.000123456789",
    "agent.adam_beta1=0.95",
    "agent.adam_beta2=0.9999999999999999",
    "agent.adam_eps=1.5e-12",
    "agent.init_temperature=123456.789",
    "agent.alpha=shared",
    "agent.target_entropy=-3.3333333333333335",
    "agent.batch_size=1300",
    "agent.actor_update_freq=2",
    "agent.critic_target_update_freq=3",
    "agent.init_steps=0",
    "agent.init_updates=12",
    "agent.updates_per_iter=4",
    "agent.log_std_min=-5.5",
    "agent.log_std_max=99.9",
    "agent.actor_l2=3e-4",
    "agent.grad_clip=1e20",
    "agent.max_nonfinite_skips=0",
    "replay.capacity=1000001",
    "replay.reward_norm=ema",
    "replay.reward_ema_rate=0.0005",
    "replay.sampling=uniform",
    "mtl.method=upgrad",
    "mtl.on_critic=false",
    "mtl.on_actor=false",
    "mtl.on_alpha=false",
    "mtl.cagrad_c=0.5",
    "mtl.cagrad_lr=50",
    "mtl.cagrad_momentum=0.25",
    "mtl.cagrad_steps=33",
    "mtl.cagrad_rescale=none",
    "mtl.cagrad_fast_subset=8",
    "mtl.cagrad_fast_gram=subset",
    "mtl.mgda_normalize=none",
    "mtl.graddrop_k=2.5",
    "mtl.rlw_dist=normal",
    "mtl.nash_update_every=50",
    "mtl.nash_iters=1",
    "mtl.nash_max_norm=1",
    "mtl.famo_lr=0.01",
    "mtl.famo_gamma=0.001",
    "mtl.famo_scale=mtrl",
    "mtl.upgrad_norm_eps=0",
    "mtl.upgrad_reg_eps=1e-3",
    "eval.every=30000",
    "eval.episodes=3",
    "eval.deterministic=false",
    "eval.video_every=5000",
    "log.every=150",
    "log.checkpoint_every=-1",
    "log.save_replay=false",
    "log.keep_checkpoints=0",
};

/* Every key with a non-default value, strings with characters YAML must
 * escape, doubles that need all 17 digits: written, read back, identical. */
static void test_round_trip(void **st)
{
    (void)st;
    mtrl_config c;
    cfg_defaults(&c);
    mtrl_err e = {0};
    int n = (int)(sizeof nondefault / sizeof nondefault[0]);
    assert_int_equal(n, cfg_key_count()); /* one override per key: every key covered */
    mtrl_config d;
    cfg_defaults(&d);
    for (int i = 0; i < n; i++) {
        mtrl_config before = c;
        assert_int_equal(cfg_apply_override(&c, nondefault[i], &e), 0);
        assert_false(cfg_equal(&c, &before)); /* each one changes a key */
    }
    assert_int_equal(cfg_check(&c, &e), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/resolved.yaml", test_tmpdir());
    put("resolved.yaml", "old content\n"); /* replaced whole, not appended to */
    assert_int_equal(cfg_write_yaml(&c, path, &e), 0);
    mtrl_config r;
    assert_int_equal(cfg_load(&r, path, NULL, 0, &e), 0);
    assert_true(cfg_equal(&r, &c));
    assert_string_equal(r.run.runs_dir, "/tmp/we\"ird\\ na:me #1 {x}");
    /* The defaults round-trip as well. */
    assert_int_equal(cfg_write_yaml(&d, path, &e), 0);
    assert_int_equal(cfg_load(&r, path, NULL, 0, &e), 0);
    snprintf(r.run.name, sizeof r.run.name, "%s", ""); /* load names it "resolved" */
    assert_true(cfg_equal(&r, &d));
    /* No temporary file left beside it. */
    glob_t g;
    char pat[700];
    snprintf(pat, sizeof pat, "%s/resolved.yaml.tmp*", test_tmpdir());
    assert_int_equal(glob(pat, 0, NULL, &g), GLOB_NOMATCH);
    globfree(&g);
    /* A directory that does not exist: an error, not a crash. */
    snprintf(path, sizeof path, "%s/no/such/dir/x.yaml", test_tmpdir());
    assert_int_equal(cfg_write_yaml(&d, path, &e), MTRL_EIO);
    assert_non_null(strstr(e.msg, "no/such/dir/x.yaml"));
}

/* configs/base.yaml is the documentation of the defaults: it names every
 * key, each in its own section, and loads to exactly cfg_defaults(). */
static void test_base_yaml_is_the_defaults(void **st)
{
    (void)st;
    FILE *f = fopen("configs/base.yaml", "r");
    assert_non_null(f);
    char line[512], section[64] = "";
    int n = cfg_key_count();
    int *seen = calloc((size_t)n, sizeof *seen);
    while (fgets(line, sizeof line, f)) {
        char name[128];
        if (line[0] != ' ' && line[0] != '#' && sscanf(line, "%63[a-z_]:", section) == 1)
            continue;
        if (!strncmp(line, "  ", 2) && sscanf(line + 2, "%127[a-z_0-9]:", name) == 1) {
            char path[200];
            snprintf(path, sizeof path, "%s.%s", section, name);
            for (int i = 0; i < n; i++) {
                cfg_key_info k;
                cfg_key_get(i, &k);
                if (!strcmp(k.path, path))
                    seen[i]++;
            }
        }
    }
    fclose(f);
    for (int i = 0; i < n; i++) {
        cfg_key_info k;
        cfg_key_get(i, &k);
        if (seen[i] != 1)
            fprintf(stderr, "configs/base.yaml: %s appears %d times\n", k.path, seen[i]);
        assert_int_equal(seen[i], 1);
        assert_non_null(k.doc);
    }
    free(seen);
    mtrl_config d, b;
    cfg_defaults(&d);
    mtrl_err e = {0};
    b = d;
    for (size_t i = 0; i < sizeof nondefault / sizeof nondefault[0]; i++)
        assert_int_equal(cfg_apply_override(&b, nondefault[i], &e), 0);
    /* Apply base.yaml over values that are all different from the defaults,
     * so a key missing or wrong in either place shows up. */
    assert_int_equal(cfg_read_file(&b, "configs/base.yaml", &e), 0);
    assert_true(cfg_equal(&b, &d));
}

static void test_shipped_configs_load(void **st)
{
    (void)st;
    glob_t g;
    int files = 0;
    const char *pats[] = {"configs/*.yaml", "configs/*/*.yaml"};
    for (int p = 0; p < 2; p++) {
        assert_int_equal(glob(pats[p], 0, NULL, &g), 0);
        for (size_t i = 0; i < g.gl_pathc; i++) {
            mtrl_config c;
            mtrl_err e = {0};
            int rc = cfg_load(&c, g.gl_pathv[i], NULL, 0, &e);
            if (rc)
                fprintf(stderr, "%s\n", e.msg);
            assert_int_equal(rc, 0);
            files++;
        }
        globfree(&g);
    }
    assert_true(files >= 12);
    /* The paper settings (spec/mtrl-cagrad.md §2). */
    mtrl_config c;
    mtrl_err e = {0};
    assert_int_equal(cfg_load(&c, "configs/mt10/cagrad.yaml", NULL, 0, &e), 0);
    assert_int_equal(cfg_num_tasks(&c), 10);
    assert_int_equal(c.mtl.method, CFG_MTL_CAGRAD);
    assert_true(c.mtl.cagrad_c == 0.9);
    assert_int_equal(c.mtl.famo_scale, CFG_FAMO_PAPER);
    assert_int_equal(c.env.max_episode_steps, 150);
    assert_int_equal(c.agent.batch_size, 1280);
    assert_int_equal(cfg_load(&c, "configs/mt50/cagrad.yaml", NULL, 0, &e), 0);
    assert_int_equal(cfg_num_tasks(&c), 50);
    assert_true(c.mtl.cagrad_c == 0.5);
    assert_int_equal(c.agent.batch_size % 50, 0);
    assert_int_equal(cfg_load(&c, "configs/mt10/cagrad_fast.yaml", NULL, 0, &e), 0);
    assert_int_equal(c.mtl.method, CFG_MTL_CAGRAD_FAST);
    assert_int_equal(c.mtl.cagrad_fast_subset, 4);
    assert_int_equal(cfg_load(&c, "configs/mt50/cagrad_fast.yaml", NULL, 0, &e), 0);
    assert_int_equal(c.mtl.cagrad_fast_subset, 8);
    assert_int_equal(cfg_load(&c, "configs/mt10/mtsac.yaml", NULL, 0, &e), 0);
    assert_int_equal(c.mtl.method, CFG_MTL_MEAN);
    assert_int_equal(cfg_load(&c, "configs/mt50/pcgrad.yaml", NULL, 0, &e), 0);
    assert_int_equal(c.mtl.method, CFG_MTL_PCGRAD);
    assert_int_equal(cfg_load(&c, "configs/mt50/mgda.yaml", NULL, 0, &e), 0);
    assert_int_equal(c.mtl.method, CFG_MTL_MGDA);
    assert_int_equal(cfg_load(&c, "configs/quickstart.yaml", NULL, 0, &e), 0);
    assert_int_equal(cfg_num_tasks(&c), 10);
    assert_int_equal(c.mtl.method, CFG_MTL_CAGRAD);
    assert_true(c.agent.actor_hidden.n >= 1 && c.agent.actor_hidden.v[0] <= 256);
}

/* Runs the command with stdout to out_path and stderr to err_path; returns
 * its exit status. */
static int run_mtrl(const char *args, const char *out_path, const char *err_path)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", test_mtrl_bin(), args, out_path, err_path);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void slurp(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t k = fread(buf, 1, n - 1, f);
    buf[k] = 0;
    fclose(f);
}

static void test_cli(void **st)
{
    (void)st;
    char out[600], errp[600], args[1400];
    static char text[1 << 16];
    snprintf(out, sizeof out, "%s/cli.out.yaml", test_tmpdir());
    snprintf(errp, sizeof errp, "%s/cli.err", test_tmpdir());
    const char *bad = put("cli_bad.yaml", "agent:\n  batch_size: abc\n");
    snprintf(args, sizeof args, "config '%s'", bad);
    assert_int_equal(run_mtrl(args, out, errp), 2);
    slurp(errp, text, sizeof text);
    char want[1200];
    snprintf(want, sizeof want, "%s:2: agent.batch_size: expected a positive integer, got \"abc\"", bad);
    assert_non_null(strstr(text, want));

    snprintf(args, sizeof args, "config configs/mt10/cagrad.yaml --set agent.batch_size=abc");
    assert_int_equal(run_mtrl(args, out, errp), 2);
    slurp(errp, text, sizeof text);
    assert_non_null(strstr(text, "--set agent.batch_size=abc: expected a positive integer, got \"abc\""));

    snprintf(args, sizeof args, "config '%s/does-not-exist.yaml'", test_tmpdir());
    assert_int_equal(run_mtrl(args, out, errp), 2);
    assert_int_equal(run_mtrl("config", out, errp), 2);
    assert_int_equal(run_mtrl("config --bogus x.yaml", out, errp), 2);
    assert_int_equal(run_mtrl("config configs/base.yaml --set", out, errp), 2);

    /* Success: the printed config is itself a config that loads to the same values. */
    assert_int_equal(run_mtrl("config configs/mt10/cagrad.yaml --set agent.actor_hidden=[64,64] "
                              "-s run.seed=5",
                              out, errp),
                     0);
    mtrl_config a, b;
    mtrl_err e = {0};
    const char *sets[] = {"agent.actor_hidden=[64,64]", "run.seed=5"};
    assert_int_equal(cfg_load(&a, "configs/mt10/cagrad.yaml", sets, 2, &e), 0);
    assert_int_equal(cfg_load(&b, out, NULL, 0, &e), 0);
    assert_true(cfg_equal(&a, &b));

    assert_int_equal(run_mtrl("config --help", out, errp), 0);
    slurp(out, text, sizeof text);
    assert_non_null(strstr(text, "usage: mtrl config"));
    assert_int_equal(run_mtrl("config --keys", out, errp), 0);
    slurp(out, text, sizeof text);
    for (int i = 0; i < cfg_key_count(); i++) {
        cfg_key_info k;
        cfg_key_get(i, &k);
        assert_non_null(strstr(text, k.path));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_valid_file),
        cmocka_unit_test(test_includes),
        cmocka_unit_test(test_contract_message),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_self_include_and_yaml_syntax),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_base_yaml_is_the_defaults),
        cmocka_unit_test(test_shipped_configs_load),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
