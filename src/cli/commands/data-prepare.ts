/**
 * pcam data prepare: any PCam source into a patch store.
 * @module
 */
import { readFileSync } from 'node:fs'
import { DEFAULT_MAX_SKIPPED, prepareStore } from '../../data/prepare.js'
import { parseSlideMap, type SplitSpec } from '../../data/split.js'
import { ValidationError } from '../../errors.js'
import { DEFAULT_CLASSES, parseClassMap } from '../../slide/annotations.js'
import { SLIDE_PATCH_DEFAULTS, slidePatchSource } from '../../slide/patches.js'
import { checkInteger, checkNumber } from '../../torch/index.js'
import type { Command, OptionValues } from '../command.js'
import { createProgress, withInterrupt } from '../progress.js'

function splitSpec(values: OptionValues): SplitSpec | null {
  const validPct = values['valid-pct'] as number | undefined
  const seed = values.seed as number
  const slideCsv = values['split-by-slide'] as string | undefined
  if (slideCsv !== undefined) {
    const slides =
      slideCsv === 'source' ? null : parseSlideMap(readFileSync(slideCsv, 'utf8'), slideCsv)
    return { kind: 'slide', validPct: validPct ?? 0.2, seed, slides, origin: slideCsv }
  }
  if (validPct !== undefined) return { kind: 'random', validPct, seed }
  return null
}

export const dataPrepareCommand: Command = {
  name: 'data prepare',
  args: '<source...>',
  summary: 'Decode a PCam source once into a patch store that training reads at memory speed.',
  description:
    'Sources (detected from the files; folders or .zip files):\n' +
    '  Kaggle:        train/<id>.tif + train_labels.csv (id,label), test/<id>.tif\n' +
    '  PCam HDF5:     camelyonpatch_level_2_split_<train|valid|test>_<x|y>.h5[.gz] (+ _meta.csv)\n' +
    '  Class folders: <root>/<class>/*.png|jpg|tif, optionally inside train/ valid/ test/\n' +
    'Example: pcam data prepare train.zip train_labels.csv.zip --out data/kaggle-store\n' +
    "Splits: the source's own when it has a validation part, else a random stratified 20%;\n" +
    'a source of test patches only stays test (mean/std then come from all its patches).\n' +
    'Bad inputs fail the run (listed in <out>.problems.txt); with --skip-bad they are left out\n' +
    'as long as they are at most --max-skipped of the inputs (default 0.01, i.e. 1%).\n' +
    'Symbolic links are followed. --overwrite replaces only a patch store, never a source\n' +
    'or any other folder.\n' +
    'Whole slides with annotations (QuPath GeoJSON or ASAP XML, <slide>.geojson/.json/.xml):\n' +
    '  pcam data prepare slides/ --annotations annotations/ --out data/my-slides\n' +
    "  Patches are cut on a grid at --mpp (default 0.972) and labelled by PCam's rule: tumour when\n" +
    '  the centre --centre pixels hold tumour; normal patches come from tissue outside tumour and\n' +
    '  exclusions. Split by slide unless told otherwise.',
  options: {
    out: {
      type: 'string',
      required: true,
      value: 'store folder',
      description: 'Folder to write the store to',
    },
    'valid-pct': {
      type: 'number',
      description: 'Move this fraction of the training patches to valid (stratified)',
    },
    'split-by-slide': {
      type: 'string',
      description:
        'CSV of patch id,slide (or "source" for the slides the source names): no slide on both sides',
    },
    seed: { type: 'number', default: 42, description: 'Seed of random and slide splits' },
    dedupe: {
      type: 'boolean',
      description: 'Drop patches whose pixels exactly repeat an earlier one',
    },
    'skip-bad': {
      type: 'boolean',
      description: 'Leave out bad inputs (listed in <out>/skipped.txt) instead of failing',
    },
    'max-skipped': {
      type: 'number',
      description: `With --skip-bad, the largest share of inputs that may be left out (default ${DEFAULT_MAX_SKIPPED})`,
    },
    size: {
      type: 'number',
      description: 'Patch size in pixels; others are bad inputs (default: the size most have)',
    },
    overwrite: {
      type: 'boolean',
      description: 'Replace the patch store at --out (refuses any folder that is not a store)',
    },
    mpp: {
      type: 'number',
      description:
        'Micrometres per pixel of the patches, recorded for whole-slide prediction (PCam/Kaggle: 0.972)',
    },
    annotations: {
      type: 'string',
      description: 'Folder of slide annotations: the sources are then whole slides',
    },
    labels: {
      type: 'string',
      description: 'CSV "slide,label": slides without annotations that are normal (label 0)',
    },
    classes: {
      type: 'string',
      default: DEFAULT_CLASSES,
      description: 'Annotation class names to 1 (tumour), 0 (normal) or exclude',
    },
    centre: {
      type: 'number',
      default: SLIDE_PATCH_DEFAULTS.centre,
      description: 'Slides: side of the centre region whose tumour makes a patch tumour (PCam: 32)',
    },
    stride: {
      type: 'number',
      description: 'Slides: grid step in patch pixels (default: the patch size)',
    },
    'per-slide': {
      type: 'number',
      default: SLIDE_PATCH_DEFAULTS.perSlide,
      description: 'Slides: most patches drawn per slide and class (seeded by --seed)',
    },
    balance: {
      type: 'boolean',
      description: 'Slides: draw as many normal patches as tumour ones',
    },
    'min-tissue': {
      type: 'number',
      default: SLIDE_PATCH_DEFAULTS.minTissue,
      description: 'Slides: share of a patch that must be tissue',
    },
    'hard-negatives': {
      type: 'string',
      description:
        'Slides: a "slide predict" --out of the same slides; its tiles at or above the threshold outside tumour are added as normal patches',
    },
    json: { type: 'boolean', description: 'Print the result as JSON' },
  },
  async run(values, positionals) {
    if (positionals.length === 0)
      throw new ValidationError('Give the source: pcam data prepare <folder|zip...> --out <store>')
    const fromSlides = values.annotations !== undefined || values.labels !== undefined
    const source = fromSlides
      ? await slidePatchSource({
          slides: positionals,
          annotations: values.annotations as string | undefined,
          labels: values.labels as string | undefined,
          classes: parseClassMap(values.classes as string),
          mpp: values.mpp as number | undefined,
          size: values.size as number | undefined,
          centre: checkInteger(values.centre, '--centre', 1),
          stride:
            values.stride === undefined ? undefined : checkInteger(values.stride, '--stride', 1),
          perSlide: checkInteger(values['per-slide'], '--per-slide', 1),
          balance: values.balance === true,
          seed: values.seed as number,
          minTissue: checkNumber(values['min-tissue'], '--min-tissue', 0, 1),
          hardNegatives: values['hard-negatives'] as string | undefined,
        })
      : undefined
    const progress = createProgress('prepare', 0)
    const result = await withInterrupt((signal) =>
      prepareStore({
        sources: positionals,
        source,
        out: values.out as string,
        split: splitSpec(values),
        dedupe: values.dedupe === true,
        skipBad: values['skip-bad'] === true,
        maxSkipped: values['max-skipped'] as number | undefined,
        overwrite: values.overwrite === true,
        size: values.size as number | undefined,
        mpp:
          (values.mpp as number | undefined) ?? (fromSlides ? SLIDE_PATCH_DEFAULTS.mpp : undefined),
        onProgress: ({ done, total }) => progress.update(done, total),
        signal,
      }),
    )
    progress.finish(`(${(result.count / result.seconds).toFixed(0)} patches/s)`)
    if (values.json === true) {
      console.log(JSON.stringify({ ...result, skipped: result.skipped.length }))
      return
    }
    const splits = Object.entries(result.splitCounts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')
    console.log(`Wrote ${result.count} patches (${splits}) to ${result.out}`)
    console.log(`Source: ${result.source}`)
    if (result.restarted)
      console.log('An interrupted earlier run was found and discarded; this run started afresh.')
    if (values.dedupe === true) console.log(`Dropped ${result.duplicatesDropped} exact duplicates.`)
    if (result.skipped.length > 0)
      console.log(
        `Skipped ${result.skipped.length} bad inputs, listed in ${result.out}/skipped.txt`,
      )
  },
}
