/**
 * Test-only pause points. IOMMU_STRESS_PAUSE="point:ms,point:ms" makes pausePoint(point) note
 * `pause-point <point>` on stderr (once) and block the calling thread for ms: tests use it to hold a race
 * window open (the stress main thread between its STOP check and arming its wait: `park`) and to stop a
 * run at a named moment of writing its report and kill it there (`report-files`, `report-publish`,
 * `report-latest`). Unset, a pause point is one Map lookup.
 */
const points: ReadonlyMap<string, number> = new Map(
  (process.env.IOMMU_STRESS_PAUSE ?? '')
    .split(',')
    .filter(Boolean)
    .map((p) => {
      const [name, ms] = p.split(':');
      return [name ?? '', Number(ms ?? '0') || 0] as const;
    }),
);
const cell = points.size > 0 ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
const noted = new Set<string>();

export function pausePoint(name: string): void {
  const ms = points.get(name);
  if (ms === undefined || !cell) return;
  if (!noted.has(name)) {
    noted.add(name);
    process.stderr.write(`pause-point ${name}\n`);
  }
  Atomics.wait(cell, 0, 0, ms); // nobody notifies: a plain sleep that blocks this thread
}
