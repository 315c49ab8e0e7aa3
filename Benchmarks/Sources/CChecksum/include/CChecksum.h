// C baselines for the Internet checksum (RFC 1071), built at -O3.
//
// Every function returns the same value as InternetChecksum.checksum(_:) in
// NetWire: the complemented, folded one's complement sum of native-order
// 16-bit words, a trailing odd byte being the high-order (first) byte of a
// zero-padded word, converted to host order so it can be stored big-endian.
#ifndef NETSTACK_CCHECKSUM_H
#define NETSTACK_CCHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 32-bit loads summed into a 64-bit accumulator (no carries to track);
/// the plain loop the compiler auto-vectorises. Same algorithm as
/// InternetChecksum.nativeSum.
uint16_t netstack_c_checksum_acc32(const void *bytes, size_t length);

/// 64-bit loads with an add-with-carry chain (x86-64 inline asm, four loads
/// per step, the shape of Linux's csum_partial); acc32 on other machines.
uint16_t netstack_c_checksum_adc64(const void *bytes, size_t length);

/// The unfolded wide sum acc32 computes, for differential tests.
uint64_t netstack_c_native_sum_acc32(const void *bytes, size_t length);

#ifdef __cplusplus
}
#endif

#endif
