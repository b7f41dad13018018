/** Rendering values from outside (files, tokens, flags) into error messages, safely. */

/**
 * A short, safe rendering of any JSON value for a message: bounded in depth and length, without
 * recursion proportional to the input (JSON.stringify of a 100,000-deep list overflows the stack).
 */
export function preview(v: unknown, max = 40): string {
  if (v === undefined) return 'nothing';
  const out: string[] = [];
  let len = 0;
  const walk = (x: unknown, depth: number): void => {
    if (len > max) return;
    const put = (s: string) => {
      out.push(s);
      len += s.length;
    };
    if (Array.isArray(x)) {
      if (depth >= 3) {
        put('[…]');
        return;
      }
      put('[');
      for (let i = 0; i < x.length && len <= max; i++) {
        if (i > 0) put(',');
        walk(x[i], depth + 1);
      }
      put(']');
    } else if (typeof x === 'object' && x !== null) {
      if (depth >= 3) {
        put('{…}');
        return;
      }
      put('{');
      Object.keys(x).some((k, i) => {
        if (i > 0) put(',');
        put(`${JSON.stringify(k.length > max ? k.slice(0, max) : k)}:`);
        walk((x as Record<string, unknown>)[k], depth + 1);
        return len > max;
      });
      put('}');
    } else put(typeof x === 'string' ? JSON.stringify(x.length > max ? x.slice(0, max) : x) : String(x));
  };
  walk(v, 0);
  return abbrev(out.join(''));
}

function abbrev(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
