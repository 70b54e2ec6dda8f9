/* str_edit_distance: the one Levenshtein distance behind the "did you mean"
 * suggestions of config keys and task names. */
#include "testutil.h"

#include <string.h>

#include "core/strutil.h"

static void test_distances(void **st_)
{
    (void)st_;
    assert_int_equal(str_edit_distance("", ""), 0);
    assert_int_equal(str_edit_distance("abc", ""), 3);
    assert_int_equal(str_edit_distance("", "abcd"), 4);
    assert_int_equal(str_edit_distance("reach-v2", "reach-v2"), 0);
    assert_int_equal(str_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(str_edit_distance("sitting", "kitten"), 3);
    /* a transposition is two edits, a deleted section dot one */
    assert_int_equal(str_edit_distance("mtl.cagard_c", "mtl.cagrad_c"), 2);
    assert_int_equal(str_edit_distance("mtlcagrad_c", "mtl.cagrad_c"), 1);
}

static void test_long_strings_are_far(void **st_)
{
    (void)st_;
    char a[STR_EDIT_MAX_LEN + 2], b[STR_EDIT_MAX_LEN + 1];
    memset(a, 'x', sizeof a - 1), a[sizeof a - 1] = 0;
    memset(b, 'x', sizeof b - 1), b[sizeof b - 1] = 0;
    /* the longest measured strings still get their real distance */
    assert_int_equal(str_edit_distance(b, b), 0);
    assert_int_equal(str_edit_distance(b, "x"), STR_EDIT_MAX_LEN - 1);
    assert_int_equal(str_edit_distance(a, b), STR_EDIT_FAR);
    assert_int_equal(str_edit_distance("x", a), STR_EDIT_FAR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distances),
        cmocka_unit_test(test_long_strings_are_far),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
