/**
 * The learning-rate finder's plot (lr-find.svg and .png), drawn from the lr-find.json that
 * `pcam lr-find` and `pcam train --lr auto` leave in their folder.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LrFindResult } from '../learn/lr-find.js'
import { lrFinderChart } from './charts.js'
import { writeChart } from './render.js'

/** Plots dir/lr-find.json; returns the files written, none when the folder has no sweep. */
export async function plotLrFind(dir: string): Promise<string[]> {
  const path = join(dir, 'lr-find.json')
  if (!existsSync(path)) return []
  const found = JSON.parse(readFileSync(path, 'utf8')) as LrFindResult
  const chart = await writeChart(
    lrFinderChart(found.lrs, found.losses, found.suggestion),
    join(dir, 'lr-find'),
  )
  return [chart.svg, chart.png]
}
