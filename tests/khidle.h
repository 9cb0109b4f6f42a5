/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The tests' own reading and writing of idle states (kvmheat.h
 * KH_IDLE_S_*: a base-3 digit per page, KH_IDLE_PPW pages a word), worked
 * out here by multiplication rather than from kh_idle_pow3, so that a
 * wrong table entry fails the tests instead of agreeing with itself.
 */
#ifndef KH_TEST_IDLE_H
#define KH_TEST_IDLE_H

#include <stdint.h>
#include "kvmheat.h"

static inline uint64_t kh_t_pow3(uint64_t d)
{
	uint64_t w = 1;

	while (d--)
		w *= 3;
	return w;
}

/* State of page @p of the slot whose words start at @off. */
static inline unsigned int kh_t_state(const uint64_t *words, uint64_t off, uint64_t p)
{
	return (unsigned int)(words[off + p / KH_IDLE_PPW] / kh_t_pow3(p % KH_IDLE_PPW) % 3);
}

/* Raise page @p to @st, as the BPF side does (a state only rises). */
static inline void kh_t_raise(uint64_t *words, uint64_t off, uint64_t p, unsigned int st)
{
	unsigned int old = kh_t_state(words, off, p);

	if (st > old)
		words[off + p / KH_IDLE_PPW] += (st - old) * kh_t_pow3(p % KH_IDLE_PPW);
}

#endif /* KH_TEST_IDLE_H */
