/* unit_main.h: what every CUnit suite's main does: register the tests in one suite, run them
 * verbosely, and fail when a test failed or none ran (so make check cannot pass on nothing). */
#ifndef RAYC_UNIT_MAIN_H
#define RAYC_UNIT_MAIN_H

#include <stddef.h>
#include <stdint.h>

#include <CUnit/Basic.h>

/* One xorshift64 step: the suites' seeded pseudo-random numbers (*s must not start at 0). */
static inline uint64_t unit_xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

typedef struct unit_test {
    const char *name;
    CU_TestFunc fn;
} unit_test;

/* setup and teardown (may be NULL) run around each test. */
static inline int unit_run(const char *suite_name, const unit_test *tests, size_t n,
                           CU_SetUpFunc setup, CU_TearDownFunc teardown)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite suite =
        CU_add_suite_with_setup_and_teardown(suite_name, NULL, NULL, setup, teardown);
    for (size_t i = 0; suite && i < n; i++)
        if (!CU_add_test(suite, tests[i].name, tests[i].fn))
            suite = NULL;
    if (!suite) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return failed == 0 && ran > 0 ? 0 : 1;
}

#define UNIT_RUN(suite_name, tests)                                                                \
    unit_run(suite_name, tests, sizeof tests / sizeof tests[0], NULL, NULL)
#define UNIT_RUN_EACH(suite_name, tests, setup, teardown)                                          \
    unit_run(suite_name, tests, sizeof tests / sizeof tests[0], setup, teardown)

#endif /* RAYC_UNIT_MAIN_H */
