/* NVB_ASAN is defined when AddressSanitizer instruments this build: gcc says so with
 * __SANITIZE_ADDRESS__, clang through __has_feature. */
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define NVB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NVB_ASAN 1
#endif
#endif
