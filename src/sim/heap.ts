/**
 * The simulated-time executor's run queue: a binary min-heap of task ids ordered by (clock, rank), where
 * rank is a seeded permutation of the task ids — the seeded tie-break rule, so equal clocks never leave
 * the order to anything but the run's inputs.
 */
export class ClockHeap {
  private readonly items: Int32Array;
  size = 0;

  constructor(
    capacity: number,
    private readonly clock: Float64Array,
    private readonly rank: Int32Array,
  ) {
    this.items = new Int32Array(capacity);
  }

  private less(a: number, b: number): boolean {
    const ca = this.clock[a]!;
    const cb = this.clock[b]!;
    return ca < cb || (ca === cb && this.rank[a]! < this.rank[b]!);
  }

  push(t: number): void {
    const it = this.items;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(t, it[p]!)) break;
      it[i] = it[p]!;
      i = p;
    }
    it[i] = t;
  }

  peek(): number {
    return this.size > 0 ? this.items[0]! : -1;
  }

  pop(): number {
    const it = this.items;
    const top = it[0]!;
    const last = it[--this.size]!;
    let i = 0;
    const n = this.size;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const m = r < n && this.less(it[r]!, it[l]!) ? r : l;
      if (!this.less(it[m]!, last)) break;
      it[i] = it[m]!;
      i = m;
    }
    if (n > 0) it[i] = last;
    return top;
  }
}
