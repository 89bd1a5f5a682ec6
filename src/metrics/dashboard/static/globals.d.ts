/*
 * What the page gets from outside its own modules: Chart.js, loaded as a classic script (its UMD build sets the
 * global), and the properties the alert-marker plugin keeps on each chart (tests read $alertMarksDrawn).
 */
import type { Chart as ChartJs, ChartType, DefaultDataPoint } from 'chart.js';

/** An alert transition placed on a history chart's time axis. */
export interface AlertMark {
  /** Epoch ms. */
  t: number;
  key: string;
  from: string;
  to: string;
  message: string;
}

/** A process start (deploy or restart) placed on a history chart's time axis. */
export interface DeployMark {
  /** Epoch ms. */
  t: number;
  instanceId: string;
  version: string;
}

/** Where a mark was drawn, for tests and scripts. */
export interface DrawnMark {
  t: number;
  x: number;
  key: string;
  to: string;
}

declare module 'chart.js' {
  // Same type parameters as Chart.js's own class, so this merges into it.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface Chart<TType extends ChartType = ChartType, TData = DefaultDataPoint<TType>, TLabel = unknown> {
    $alertMarks?: AlertMark[];
    $alertHover?: AlertMark | null;
    $alertMarksDrawn?: DrawnMark[];
    $deployMarks?: DeployMark[];
    /** Epoch ms of each deploy mark drawn inside the plotted range. */
    $deployMarksDrawn?: number[];
    /** Largest gap between two history points still drawn as one line (1.5 buckets). */
    $maxGap?: number;
  }
}

declare global {
  const Chart: typeof ChartJs;
}
