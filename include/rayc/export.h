/* rayc/export.h: symbol visibility. The library is built with -fvisibility=hidden; only
 * symbols marked RAYC_EXPORT are part of the ABI. */
#ifndef RAYC_EXPORT_H
#define RAYC_EXPORT_H
#if defined(__GNUC__) || defined(__clang__)
#define RAYC_EXPORT __attribute__((visibility("default")))
#else
#define RAYC_EXPORT
#endif
#endif /* RAYC_EXPORT_H */
