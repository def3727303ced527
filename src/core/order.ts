/**
 * The order of stored text (ISO times, ids, host names, days): by UTF-16 code units. Not
 * localeCompare: its first call in a process loads ICU's collation data (9–14 ms measured here,
 * a sixth of a one-shot `tt status`), and for ISO times and ids it gives the same order.
 */
export const cmp = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0;
