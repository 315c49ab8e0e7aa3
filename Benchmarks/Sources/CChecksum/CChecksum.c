// C baselines for the Internet checksum. See include/CChecksum.h.
#include "CChecksum.h"

#include <string.h>

// Folds a wide sum of native-order words to 16 bits (end-around carries).
static inline uint16_t fold_wide(uint64_t s) {
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffffffu) + (s >> 32);
    s = (s & 0xffffu) + (s >> 16);
    s = (s & 0xffffu) + (s >> 16);
    s = (s & 0xffffu) + (s >> 16);
    return (uint16_t)s;
}

// Native-order sum to the host-order value of the (complemented) field.
static inline uint16_t field_value(uint64_t wide) {
    uint16_t folded = (uint16_t)~fold_wide(wide);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap16(folded);
#else
    return folded;
#endif
}

// Adds the last 0-3 bytes: a 16-bit word, then an odd byte as the first
// byte of a zero-padded word.
static inline uint64_t add_tail(uint64_t sum, const uint8_t *p, size_t n) {
    if (n >= 2) {
        uint16_t w;
        memcpy(&w, p, sizeof w);
        sum += w;
        p += 2;
        n -= 2;
    }
    if (n) {
        uint8_t b[2] = {p[0], 0};
        uint16_t w;
        memcpy(&w, b, sizeof w);
        sum += w;
    }
    return sum;
}

uint64_t netstack_c_native_sum_acc32(const void *bytes, size_t length) {
    const uint8_t *p = bytes;
    uint64_t sum = 0;
    size_t words = length / 4;
    for (size_t i = 0; i < words; i++) {
        uint32_t w;
        memcpy(&w, p + 4 * i, sizeof w);
        sum += w;
    }
    return add_tail(sum, p + 4 * words, length - 4 * words);
}

uint16_t netstack_c_checksum_acc32(const void *bytes, size_t length) {
    return field_value(netstack_c_native_sum_acc32(bytes, length));
}

uint16_t netstack_c_checksum_adc64(const void *bytes, size_t length) {
#if defined(__x86_64__)
    const uint8_t *p = bytes;
    uint64_t sum = 0;
    while (length >= 32) {
        __asm__("addq (%[p]), %[s]\n\t"
                "adcq 8(%[p]), %[s]\n\t"
                "adcq 16(%[p]), %[s]\n\t"
                "adcq 24(%[p]), %[s]\n\t"
                "adcq $0, %[s]"
                : [s] "+r"(sum)
                : [p] "r"(p)
                : "cc", "memory");
        p += 32;
        length -= 32;
    }
    // Up to 31 bytes left: 32-bit words into a second accumulator (it cannot
    // overflow), then one end-around add into the 64-bit sum.
    uint64_t rest = 0;
    while (length >= 4) {
        uint32_t w;
        memcpy(&w, p, sizeof w);
        rest += w;
        p += 4;
        length -= 4;
    }
    rest = add_tail(rest, p, length);
    __asm__("addq %[r], %[s]\n\tadcq $0, %[s]" : [s] "+r"(sum) : [r] "r"(rest) : "cc");
    return field_value(sum);
#else
    return netstack_c_checksum_acc32(bytes, length);
#endif
}
