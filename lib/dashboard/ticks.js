// Tick labels of the dashboard chart's USD axis. Sub-cent costs need more than the default's few
// digits: every label gets as many decimals as the step between ticks needs, so no two labels
// of different values read the same ("0.001, 0.001, 0, 0").

/**
 * The labels of the USD axis's ticks.
 *
 * @param {number[]} splits The tick values, evenly spaced.
 * @returns {string[]} One label per tick, distinct for distinct values.
 */
export function usdTicks(splits) {
  const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : Math.abs(splits[0] ?? 0);
  // One significant digit of the step, at least; floating noise (0.30000000000000004) is cut.
  const decimals = step > 0 ? Math.min(10, Math.max(0, -Math.floor(Math.log10(step) + 1e-9))) : 0;
  return splits.map((v) => `$${v.toFixed(decimals)}`);
}
