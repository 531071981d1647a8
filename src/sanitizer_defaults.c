/* Built into the sanitizer builds only. OCI runtimes start hooks with an empty
 * environment inside the container's PID namespace, where LeakSanitizer cannot read
 * /proc/<pid>/task and fails the hook. Leak checking therefore defaults to off for the
 * binary; the test suite turns it on (ASAN_OPTIONS wins over these defaults) for every
 * nvbind it starts itself. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}
