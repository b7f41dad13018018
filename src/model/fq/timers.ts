/**
 * Timer ids of the flushq model in the layout's one timer region (src/engine/timer.ts): the range
 * cache's delayed depot work owns ids 0..IOVA_RANGE_CACHE_MAX_SIZE-1 (one per size class), the flush
 * queue's fq_timer comes after them.
 */
import { IOVA_RANGE_CACHE_MAX_SIZE } from '../iova/magazine.js';

/** cookie->fq_timer (fq_flush_timeout). */
export const FQ_TIMER_ID = IOVA_RANGE_CACHE_MAX_SIZE;
/** Timers in the flushq layout's timer region. */
export const FLUSHQ_TIMER_COUNT = FQ_TIMER_ID + 1;
