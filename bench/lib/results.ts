/** One line of the benchmark table, as printed and as stored in bench/results.json. */
export interface Row {
  scenario: string;
  metric: string;
  bare: number | string | null;
  /** The plain Nest gateway, where a row measured it. */
  nest?: number | string | null;
  ours: number | string | null;
  ratio: number | null;
  goal: string;
  met: boolean | null;
  note?: string;
}
