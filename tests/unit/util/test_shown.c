/* Text shown on a terminal (util/shown.h) and the one-line error messages built on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/shown.h"

static void expect_shown(const char *in, const char *want)
{
    char *got = nvb_shown(in);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(nvb_shown_plain(in), strcmp(in, want) == 0);
    free(got);
}

static void controls_are_escaped(void **state)
{
    (void)state;
    /* What a container name would hold to set a title, colour and rewrite a line. */
    expect_shown("x\033]0;title\007\033[2K\rroot", "x\\x1b]0;title\\x07\\x1b[2K\\x0droot");
    expect_shown("a\nb\tc\x7f", "a\\x0ab\\x09c\\x7f");
    /* C1 controls spelled in UTF-8 (U+009B is CSI to terminals that take 8-bit controls). */
    expect_shown("\xc2\x9b" "31m", "\\xc2\\x9b31m");
}

static void text_is_kept(void **state)
{
    (void)state;
    expect_shown("", "");
    expect_shown("nvbind-1234-abcd_ef.g", "nvbind-1234-abcd_ef.g");
    expect_shown("Grafikkarte für Küche, 画像 \\u001b", "Grafikkarte für Küche, 画像 \\u001b");
    expect_shown("\xc2\xa0nbsp", "\xc2\xa0nbsp"); /* U+00A0, the first character after C1 */
}

static void malformed_utf8_is_escaped(void **state)
{
    (void)state;
    expect_shown("caf\xe9", "caf\\xe9");            /* Latin-1 */
    expect_shown("\xc0\xaf", "\\xc0\\xaf");         /* overlong '/' */
    expect_shown("\xed\xa0\x80", "\\xed\\xa0\\x80"); /* a surrogate */
    expect_shown("\xe2\x82", "\\xe2\\x82");         /* cut short */
}

static void cut_at_a_whole_character(void **state)
{
    (void)state;
    char buf[8];
    assert_int_equal(nvb_shown_into(buf, sizeof buf, "abc\033def"), 7);
    assert_string_equal(buf, "abc\\x1b");
    assert_int_equal(nvb_shown_into(buf, 6, "abc\033def"), 3);
    assert_string_equal(buf, "abc");
    assert_int_equal(nvb_shown_into(buf, 5, "ab画"), 2);
    assert_string_equal(buf, "ab");
    assert_int_equal(nvb_shown_into(buf, 1, "abc"), 0);
    assert_string_equal(buf, "");
}

static char *shown_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *shown_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = nvb_shown_vasprintf(fmt, ap);
    va_end(ap);
    return s;
}

static void formatted_then_shown(void **state)
{
    (void)state;
    char *s = shown_printf("allocated %s; %d", "GPU-1\nnvbind device-plugin: forged", 2);
    assert_string_equal(s, "allocated GPU-1\\x0anvbind device-plugin: forged; 2");
    free(s);
}

static void error_messages_stay_one_line(void **state)
{
    (void)state;
    nvb_err err = {0};
    nvb_errf(&err, NVB_EXIT_INPUT, "image file %s: bad", "/etc/x\n\033[1Aok");
    assert_string_equal(err.msg, "image file /etc/x\\x0a\\x1b[1Aok: bad");
    nvb_err_prefix(&err, "container %s", "c\r");
    assert_string_equal(err.msg, "container c\\x0d: image file /etc/x\\x0a\\x1b[1Aok: bad");
    nvb_errf_errno(&err, NVB_EXIT_IO, 2, "open \a");
    assert_string_equal(err.msg, "open \\x07: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(controls_are_escaped),
        cmocka_unit_test(text_is_kept),
        cmocka_unit_test(malformed_utf8_is_escaped),
        cmocka_unit_test(cut_at_a_whole_character),
        cmocka_unit_test(formatted_then_shown),
        cmocka_unit_test(error_messages_stay_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
