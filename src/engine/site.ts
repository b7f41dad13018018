/** A scheduling-point label, e.g. 'pte.cas L1'. Constant strings: yielding one costs a pointer. */
export type Site = string;
