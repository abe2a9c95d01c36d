/**
 * The learning-rate finder's plot (lr-find.svg and .png) beside the lr-find.json that
 * `pcam lr-find` and `pcam train --lr auto` leave in their folder, and the chart the report shows.
 * @module
 */
import { join } from 'node:path'
import type { TopLevelSpec } from 'vega-lite'
import type { LrFindResult } from '../run/run-folder.js'
import { lrFinderChart } from './charts.js'
import { writeChart } from './render.js'

/** The finder's curve with its suggestion. */
export function lrFindChart(result: LrFindResult): TopLevelSpec {
  return lrFinderChart(result.lrs, result.losses, result.suggestion)
}

/** Plots a sweep into dir; returns the files written. */
export async function plotLrFind(dir: string, result: LrFindResult): Promise<string[]> {
  const chart = await writeChart(lrFindChart(result), join(dir, 'lr-find'))
  return [chart.svg, chart.png]
}
