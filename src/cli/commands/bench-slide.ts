/**
 * pcam bench slide: whole-slide tiles/s against batch prediction, and peak memory on a slide and
 * on one four times larger.
 * @module
 */
import { join } from 'node:path'
import { benchSlide } from '../../bench/slide.js'
import { SHARED_DIR } from '../../paths.js'
import type { Command } from '../command.js'
import {
  COMPUTE_OPTIONS,
  computeOptions,
  MODEL_MPP_OPTION,
  modelMppOption,
  RUN_FOLDER_OPTION,
} from '../shared-options.js'

export const benchSlideCommand: Command = {
  name: 'bench slide',
  summary: 'Slide prediction tiles/s vs batch prediction, and peak memory on 4x and 16x slides.',
  description:
    'Writes two pyramidal TIFFs from --slide (2 x 2 and 4 x 4 copies of it), predicts each in a\n' +
    'fresh process (every tile, no tissue mask) and reports its peak resident memory; then predicts\n' +
    "the larger slide's tiles again from memory, as batch prediction does.",
  options: {
    model: RUN_FOLDER_OPTION,
    slide: {
      type: 'string',
      default: join(SHARED_DIR, 'data', 'slides', 'CMU-1-Small-Region.svs'),
      description: 'Slide the test slides are made from',
    },
    'model-mpp': MODEL_MPP_OPTION,
    json: { type: 'boolean', description: 'Print one JSON object' },
    ...COMPUTE_OPTIONS,
  },
  async run(values) {
    const r = await benchSlide({
      run: values.model as string,
      source: values.slide as string,
      modelMpp: modelMppOption(values),
      ...computeOptions(values),
    })
    if (values.json === true) {
      console.log(JSON.stringify(r))
      return
    }
    console.log(
      `slide prediction   ${r.slide_tiles_s.toFixed(1).padStart(8)} tiles/s (${r.tiles} tiles, everything included)`,
    )
    console.log(
      `batch prediction   ${r.predict_patches_s.toFixed(1).padStart(8)} patches/s (same patches, in memory)`,
    )
    console.log(
      `peak memory        ${r.rss_small_mb.toFixed(0).padStart(8)} MB on ${r.small.width} x ${r.small.height}`,
    )
    console.log(
      `                   ${r.rss_large_mb.toFixed(0).padStart(8)} MB on ${r.large.width} x ${r.large.height}`,
    )
  },
}
