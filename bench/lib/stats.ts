/** Small statistics over samples in milliseconds. */

export function quantile(samples: number[], q: number): number {
  if (!samples.length) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i];
}

export interface Summary {
  n: number;
  min: number;
  median: number;
  mean: number;
  p99: number;
  max: number;
}

export function summarize(samples: number[]): Summary {
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return {
    n: samples.length,
    min: Math.min(...samples),
    median: quantile(samples, 0.5),
    mean,
    p99: quantile(samples, 0.99),
    max: Math.max(...samples),
  };
}
