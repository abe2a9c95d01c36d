/**
 * pcam slide predict: tumour maps of whole slides at the model's resolution.
 * @module
 */
import { DataError, ValidationError } from '../../errors.js'
import {
  collectSlides,
  loadSlideModel,
  predictSlides,
  waitForRanks,
  type BatchResult,
} from '../../slide/batch.js'
import { rankFromEnvironment } from '../../learn/launcher.js'
import { howRankEnded, LAUNCH_OPTIONS, launchFromOptions, wantsRanks } from '../launch.js'
import { DEFAULT_NMS_RADIUS_UM } from '../../slide/detections.js'
import { checkStride, SLIDE_WORK_LIMITS } from '../../slide/limits.js'
import { DEFAULT_MIN_TISSUE } from '../../slide/predict-slide.js'
import { checkInteger, checkNumber } from '../../torch/index.js'
import type { Command, OptionValues } from '../command.js'
import { createProgress } from '../progress.js'
import {
  COMPUTE_OPTIONS,
  computeOptions,
  ENGINE_OPTIONS,
  engineOption,
  MODEL_MPP_OPTION,
  modelMppOption,
  RUN_FOLDER_OPTION,
  TTA_OPTIONS,
  ttaOption,
} from '../shared-options.js'
import { MAX_BATCH_SIZE } from '../../data/loader.js'

const optionalNumber = (values: OptionValues, name: string, min: number, max: number) =>
  values[name] === undefined ? undefined : checkNumber(values[name], `--${name}`, min, max)

export const slidePredictCommand: Command = {
  name: 'slide predict',
  args: '<slide or folder...>',
  summary: 'Tumour map of whole slides: tiles.csv, heatmap, overlay, tumour.geojson, summary.json.',
  description:
    'Example:\n  pcam slide predict --model runs/mobilenet_v1 slides/ --out maps\n' +
    'Each slide gets <out>/<slide name>/ (tiles.csv, heatmap.png, overlay.png, tissue.png, tumour.geojson,\n' +
    'tiles.geojson, detections.csv, summary.json); <out>/slides.csv lists every slide. A slide whose\n' +
    'complete output exists is skipped, so an interrupted batch picks up where it stopped.',
  options: {
    model: RUN_FOLDER_OPTION,
    out: { type: 'string', default: 'slides-out', description: 'Folder for the outputs' },
    'slide-mpp': {
      type: 'number',
      description:
        'µm/px of the slides, used in place of what they record (needed for slides that record none)',
    },
    'model-mpp': MODEL_MPP_OPTION,
    stride: {
      type: 'number',
      description:
        'Step between tiles in model pixels (default: the patch size; at least 1/8 of it)',
    },
    'max-tiles': {
      type: 'number',
      default: SLIDE_WORK_LIMITS.maxTiles,
      description:
        'Most tiles a slide may be cut into; a slide (or stride) that needs more is refused before any read',
    },
    'no-tissue-mask': { type: 'boolean', description: 'Predict every tile, background included' },
    'min-tissue': {
      type: 'number',
      default: DEFAULT_MIN_TISSUE,
      description: 'Share of a tile that must be tissue',
    },
    threshold: { type: 'number', description: "Tumour threshold; default: the run's own" },
    'batch-size': { type: 'number', default: 64, description: 'Tiles per model batch' },
    ...COMPUTE_OPTIONS,
    ...TTA_OPTIONS,
    ...ENGINE_OPTIONS,
    'nms-radius': {
      type: 'number',
      default: DEFAULT_NMS_RADIUS_UM,
      description:
        'Radius (µm) of non-maximum suppression for the lesion candidates in detections.csv',
    },
    overwrite: {
      type: 'boolean',
      description:
        'Predict again slides whose complete output exists in --out (default: skip them)',
    },
    'skip-bad': { type: 'boolean', description: 'Exit 0 even when some slides failed' },
    json: { type: 'boolean', description: 'Print one JSON summary per slide' },
    ...LAUNCH_OPTIONS,
    nproc: {
      type: 'number',
      default: 1,
      description:
        'Ranks (processes) on this machine: the slides are shared out between all ranks, each writing its own; with --nnodes, --out must be a folder every machine sees',
    },
  },
  async run(values, positionals) {
    if (positionals.length === 0)
      throw new ValidationError(
        'Give slides: pcam slide predict --model <run> <slide...> --out <dir>',
      )
    const out = values.out as string
    const env = rankFromEnvironment()
    if (!env && wantsRanks(values)) {
      const launched = await launchFromOptions(values)
      if (launched.ok) return // rank 0 collected the batch and reported it
      const worldSize = Number(values.nproc) * Number(values.nnodes)
      const batch = await collectSlides(positionals, out, worldSize)
      const missing = batch.missing.length ? ` Not predicted: ${batch.missing.join(', ')}.` : ''
      throw new DataError(
        `Rank ${launched.failed!.rank} ${howRankEnded(launched.failed!)}; the other ranks were stopped.${missing} ` +
          'Run the same command again: slides with a complete output are skipped.',
      )
    }
    const shard =
      env && env.worldSize > 1 ? { rank: env.rank, worldSize: env.worldSize } : undefined
    const model = await loadSlideModel(values.model as string, {
      engine: engineOption(values),
      modelMpp: modelMppOption(values),
      threshold: optionalNumber(values, 'threshold', 0, 1),
      tta: ttaOption(values),
      ...computeOptions(values),
      localRank: env?.localRank,
    })
    let batch: BatchResult
    try {
      const progress = { current: createProgress('tiles', 0) }
      batch = await predictSlides(positionals, model, {
        out,
        shard,
        slideMpp: optionalNumber(values, 'slide-mpp', 0.01, 100),
        stride:
          values.stride === undefined
            ? undefined
            : checkStride(checkInteger(values.stride, '--stride', 1), model.patchSize),
        maxTiles: checkInteger(values['max-tiles'], '--max-tiles', 1),
        nmsRadiusUm: checkNumber(values['nms-radius'], '--nms-radius', 0, 100_000),
        overwrite: values.overwrite === true,
        onSlideSkipped: (r) =>
          console.log(
            `${r.slide}: skipped, its complete output is in ${r.outDir} (--overwrite redoes it)`,
          ),
        tissueMask: values['no-tissue-mask'] !== true,
        minTissue: checkNumber(values['min-tissue'], '--min-tissue', 0, 1),
        batchSize: checkInteger(values['batch-size'], '--batch-size', 1, MAX_BATCH_SIZE),
        onSlideStart: () => (progress.current = createProgress('tiles', 0)),
        onProgress: (done, total) => progress.current.update(done, total),
        onSlideDone: (r) => {
          progress.current.finish()
          if ('message' in r) console.error(`pcam: ${r.message}`)
          else if (values.json === true) console.log(JSON.stringify(r))
          else
            console.log(
              `${r.slide}: ${r.tissueTiles}/${r.tiles} tiles with tissue, max ${r.score.max.toFixed(3)}, ` +
                `top-${r.score.k} mean ${r.score.topKMean.toFixed(3)}, tumour ${r.tumourAreaMm2.toFixed(3)} mm², ` +
                `${r.tilesPerSecond.toFixed(0)} tiles/s → ${r.outDir}${r.note ? ` (${r.note})` : ''}`,
            )
        },
      })
    } finally {
      model.dispose()
    }
    if (shard) {
      if (shard.rank !== 0) return // rank 0 speaks for the batch
      await waitForRanks(out, shard.worldSize, (waiting) =>
        console.log(`Waiting for rank(s) ${waiting.join(', ')} to finish their slides...`),
      )
      batch = await collectSlides(positionals, out, shard.worldSize)
    }
    if (values.json !== true) console.log(`Summary: ${batch.csv}`)
    if (batch.failures.length > 0) {
      const list = batch.failures.map((f) => `  ${f.message}`).join('\n')
      if (values['skip-bad'] === true)
        console.error(`Skipped ${batch.failures.length} bad slide(s):\n${list}`)
      else
        throw new DataError(
          `${batch.failures.length} of ${batch.failures.length + batch.results.length} slide(s) failed:\n${list}`,
        )
    }
  },
}
