/**
 * The checks the IOVA model reports (kernel-model.md §2.4 I1-I5, §9 #2 #4 #5), for any scenario that
 * builds an iova_domain (newIovaDomain): its checker (checked-domain.ts, quiescent.ts), the depot's
 * storage (the NULL pop) and the kernel's own WARN_ON in iova_magazine_free_pfns report these ids, and
 * the mechanism counts the ACCEPTABLE ones, so a scenario using it must declare them all.
 */
import type { InvariantDef } from '../../check/invariant.js';

export const IOVA_INVARIANTS: readonly InvariantDef[] = [
  {
    id: 'I1',
    meaning:
      'rbtree nodes never overlap and lie in [startPfn, limit]; a range handed out covers the request and lies under its limit',
    grade: 'FORBIDDEN',
  },
  {
    id: 'ALLOC-GAP',
    meaning: 'alloc_iova fails only when no size-aligned gap exists below the limit (the RETRY property, §9 #4)',
    grade: 'FORBIDDEN',
  },
  { id: 'I2', meaning: 'every pfn in a magazine has a live rbtree node', grade: 'FORBIDDEN' },
  { id: 'I3', meaning: 'bucket k holds only ranges of exactly 2^k granules', grade: 'FORBIDDEN' },
  { id: 'I4', meaning: 'a magazine in the depot is full; the depot list and its count agree', grade: 'FORBIDDEN' },
  {
    id: 'I5',
    meaning: 'a pfn is in one place at a time: free, cached in one magazine slot, or in use (never handed out twice)',
    grade: 'FORBIDDEN',
  },
  {
    id: 'IOVA-LEAK',
    meaning: 'no range or magazine is lost: every tree node is in use, cached or reserved; every magazine has an owner',
    grade: 'FORBIDDEN',
  },
  {
    id: 'DEPOT-POP',
    meaning: 'the depot is popped only when non-empty (an empty pop is the NULL dereference of DEPOT-BUG)',
    grade: 'FORBIDDEN',
  },
  {
    id: 'DEPOT-LOCK',
    meaning: "the depot is changed only under its rcache->lock (lockdep_assert_held in the depot's storage)",
    grade: 'FORBIDDEN',
  },
  {
    id: 'ENOMEM-SPURIOUS',
    meaning: 'an allocation failed after the one-shot flush while cached ranges could have made room (§9 #5)',
    grade: 'INTERESTING',
  },
  {
    id: 'ENOMEM',
    meaning: 'an allocation failed after the flush and the cached ranges could not have made room',
    grade: 'ACCEPTABLE',
  },
  {
    id: 'IOVA-FLUSH',
    meaning: "an allocation failure flushed every CPU's magazines and the depots",
    grade: 'ACCEPTABLE',
  },
  { id: 'DEPOT-TRIM', meaning: 'the depot work returned a surplus depot magazine to the rbtree', grade: 'ACCEPTABLE' },
];
