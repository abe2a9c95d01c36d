/**
 * `pcam slide eval`: a `slide predict` output folder judged against annotations, as Camelyon16
 * ranks methods. Slide level: ROC AUC of the slide scores (max tile probability) with DeLong's
 * 95% interval, and accuracy, sensitivity and specificity at the run's threshold. Lesion level:
 * FROC of the detections against lesions built by the challenge's rules (lesions.ts, froc.ts).
 * A slide is positive when its annotations hold tumour, or as a `slide,label` CSV says.
 * @module
 */
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { basename, extname, join } from 'node:path'
import { writeCsv } from '../data/csv.js'
import { frocChart, rocChart } from '../eval/charts.js'
import { writeChart } from '../eval/render.js'
import { DataError } from '../errors.js'
import { froc, type SlideLesionOutcome } from '../metrics/froc.js'
import { binaryReport, rocCurve } from '../metrics/metrics.js'
import {
  annotationFileFor,
  checkInsideSlide,
  parseClassMap,
  readAnnotations,
  readSlideLabels,
  slideLabel,
  DEFAULT_CLASSES,
  type AnnotationClass,
  type Region,
} from './annotations.js'
import { lesionAt, lesionMap } from './lesions.js'
import type { Detection } from './detections.js'
import { readDetections, readSlideSummary, type SlideSummary } from './predict-slide.js'
import { SLIDE_FILES } from '../run/slide-files.js'

/** What evaluateSlides judges and against what. */
export interface SlideEvalOptions {
  /** Folder of `slide predict` outputs (one subfolder per slide). */
  maps: string
  /** Folder of annotation files, <slide>.geojson/.json/.xml. */
  annotations: string
  /** A CSV of slide,label for slides without annotations (label 0 or 1). */
  labels?: string
  /** Annotation class names (lower-cased) to kinds (default DEFAULT_CLASSES). */
  classes?: Map<string, AnnotationClass>
  /** Folder for the charts and slides-eval.csv (default: `maps`). */
  out?: string
}

/** One slide as `pcam slide eval` judged it: a row of slides-eval.csv. */
export interface SlideOutcome {
  /** Path of the slide file, as its summary.json records it. */
  slide: string
  /** The slide's output folder in the maps folder. */
  folder: string
  /** The slide's truth: 1 tumour, 0 normal (from --labels, else from its annotations). */
  label: number
  /** The slide's score: its highest tile probability, in [0, 1]. */
  score: number
  /** Lesions that count for FROC (isolated-tumour-cell lesions excluded); 0 on a normal slide. */
  lesions: number
  /** Isolated-tumour-cell lesions (longest axis under 275 µm): neither hit nor missed. */
  itcLesions: number
  /** Lesions (of `lesions`) with at least one detection inside. */
  hits: number
  /** Detections outside every lesion (on a normal slide, all of them). */
  falsePositives: number
  /** Lesion candidates: the rows of the slide's detections.csv. */
  detections: number
}

/** What `pcam slide eval` finds, as slides-eval.json records it. */
export interface SlideEvaluation {
  /** ROC AUC of the slide scores (max tile probability) against the slide labels. */
  slide_auc: number
  /** Lower end of the slide AUC's 95% confidence interval (DeLong). */
  slide_auc_low: number
  /** Upper end of the slide AUC's 95% confidence interval (DeLong). */
  slide_auc_high: number
  /** Threshold on the slide scores: the first slide's summary.json threshold (0.5 if none). */
  threshold: number
  /** Share of slides classified correctly at the threshold, in [0, 1]. */
  accuracy: number
  /** Share of tumour slides scored at or above the threshold, in [0, 1]. */
  sensitivity: number
  /** Share of normal slides scored below the threshold, in [0, 1]. */
  specificity: number
  /** Camelyon16's lesion-level score: mean sensitivity at 1/4 to 8 false positives per slide. */
  froc: number
  /** Lesion sensitivity at each of FROC_RATES, keyed by the false positives per slide ("0.25"). */
  sensitivity_at: Record<string, number>
  /** Slides judged. */
  slides: number
  /** Slides with tumour (label 1). */
  positive_slides: number
  /** Lesions that count for FROC over all slides (isolated-tumour-cell lesions excluded). */
  lesions: number
  /** Isolated-tumour-cell lesions over all slides: neither hit nor missed. */
  itc_lesions: number
  /** Lesion candidates (detections.csv rows) over all slides. */
  detections: number
  /** Each slide's outcome, in the order of their paths (the rows of slides-eval.csv). */
  perSlide: SlideOutcome[]
  /** Paths of the files written beside slides-eval.json. */
  files: {
    /** slides-eval.csv: one row per slide. */
    csv: string
    /** The FROC chart, froc.svg (froc.png beside it). */
    froc: string
    /** The slide-level ROC chart, slide-roc.svg (slide-roc.png beside it). */
    roc: string
  }
}

/** What `slide eval` leaves in the maps folder: slides-eval.json, read by `pcam report`. */
export const SLIDE_EVAL_FILE = 'slides-eval.json'

interface Predicted {
  summary: SlideSummary
  detections: Detection[]
}

function readPredicted(maps: string): Predicted[] {
  if (!existsSync(maps))
    throw new DataError(`${maps} not found: give the --out folder of "pcam slide predict"`)
  const out: Predicted[] = []
  for (const entry of readdirSync(maps, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.endsWith('.partial')) continue
    const dir = join(maps, entry.name)
    if (!existsSync(join(dir, SLIDE_FILES.summary))) continue
    if (!existsSync(join(dir, SLIDE_FILES.detections)))
      throw new DataError(
        `${dir} has no detections.csv: it was written by an older pcam; predict the slide again (slide predict --overwrite)`,
      )
    out.push({ summary: readSlideSummary(dir), detections: readDetections(dir) })
  }
  if (out.length === 0)
    throw new DataError(`${maps} holds no slide predictions (folders with summary.json)`)
  return out.sort((a, b) => a.summary.slide.localeCompare(b.summary.slide))
}

/**
 * Judges a folder of `slide predict` outputs against annotations (and slide labels): slide-level
 * ROC AUC and accuracy, lesion-level FROC. Writes slides-eval.json, slides-eval.csv and the charts
 * to `out`; one DataError lists every slide that cannot be judged.
 */
export async function evaluateSlides(options: SlideEvalOptions): Promise<SlideEvaluation> {
  const classes = options.classes ?? parseClassMap(DEFAULT_CLASSES)
  const labels = options.labels ? readSlideLabels(options.labels) : new Map<string, number>()
  const predicted = readPredicted(options.maps)
  const outcomes: SlideOutcome[] = []
  const lesionOutcomes: SlideLesionOutcome[] = []
  const problems: string[] = []
  for (const { summary, detections } of predicted) {
    const file = basename(summary.slide)
    const stem = basename(file, extname(file))
    const annotationFile = annotationFileFor(file, options.annotations)
    let regions: Region[] = []
    if (annotationFile) {
      try {
        const annotations = readAnnotations(annotationFile, classes)
        checkInsideSlide(annotations, summary.width, summary.height)
        regions = annotations.regions
      } catch (error) {
        if (!(error instanceof DataError)) throw error
        problems.push(error.message)
        continue
      }
    }
    const tumour = regions.some((r) => r.kind === 'tumour')
    const given = slideLabel(labels, file)
    if (given === undefined && !annotationFile) {
      problems.push(
        `${summary.slide}: no annotations (${stem}.geojson, .json or .xml in ${options.annotations}) and no --labels row: it cannot be judged`,
      )
      continue
    }
    if (given === 1 && !tumour) {
      problems.push(
        `${summary.slide}: --labels says tumour but its annotations hold none: lesions cannot be judged without them`,
      )
      continue
    }
    const label = given ?? (tumour ? 1 : 0)
    const outcome: SlideOutcome = {
      slide: summary.slide,
      folder: basename(summary.outDir ?? stem),
      label,
      score: summary.score.max,
      lesions: 0,
      itcLesions: 0,
      hits: 0,
      falsePositives: 0,
      detections: detections.length,
    }
    if (label === 1) {
      const map = lesionMap(regions, summary.width, summary.height, summary.mpp)
      const hits = new Array<number>(map.itc.length).fill(0)
      const falsePositives: number[] = []
      for (const { x, y, probability: p } of detections) {
        const lesion = lesionAt(map, x, y)
        if (lesion === 0) falsePositives.push(p)
        else if (!map.itc[lesion - 1]) hits[lesion - 1] = Math.max(hits[lesion - 1] as number, p)
      }
      outcome.itcLesions = map.itc.filter(Boolean).length
      outcome.lesions = map.itc.length - outcome.itcLesions
      outcome.hits = hits.filter((h, k) => h > 0 && !map.itc[k]).length
      outcome.falsePositives = falsePositives.length
      lesionOutcomes.push({ falsePositives, lesionHits: hits, lesions: outcome.lesions })
    } else {
      outcome.falsePositives = detections.length
      lesionOutcomes.push({
        falsePositives: detections.map((d) => d.probability),
        lesionHits: [],
        lesions: 0,
      })
    }
    outcomes.push(outcome)
  }
  if (problems.length > 0) throw new DataError(problems.join('\n'))
  const scores = outcomes.map((o) => o.score)
  const truth = outcomes.map((o) => o.label)
  const positives = truth.filter((l) => l === 1).length
  if (positives === 0 || positives === outcomes.length)
    throw new DataError(
      `Slide-level evaluation needs slides of both kinds; these ${outcomes.length} are all ${positives ? 'tumour' : 'normal'}`,
    )
  const threshold = predicted[0]?.summary.threshold ?? 0.5
  const report = binaryReport(scores, truth, threshold)
  const lesionLevel = froc(lesionOutcomes)
  const out = options.out ?? options.maps
  await mkdir(out, { recursive: true })
  const csv = join(out, 'slides-eval.csv')
  await writeFile(
    csv,
    writeCsv(
      [
        'slide',
        'label',
        'score',
        'lesions',
        'itc_lesions',
        'hits',
        'false_positives',
        'detections',
      ],
      outcomes.map((o) => [
        o.slide,
        o.label,
        o.score,
        o.lesions,
        o.itcLesions,
        o.hits,
        o.falsePositives,
        o.detections,
      ]),
    ),
  )
  const frocFiles = await writeChart(
    frocChart(lesionLevel, lesionLevel.sensitivityAt, lesionLevel.score),
    join(out, 'froc'),
  )
  const rocFiles = await writeChart(
    rocChart(
      rocCurve(scores, truth),
      { value: report.rocAuc, low: report.rocAucLow, high: report.rocAucHigh },
      report,
    ),
    join(out, 'slide-roc'),
  )
  const evaluation: SlideEvaluation = {
    slide_auc: report.rocAuc,
    slide_auc_low: report.rocAucLow,
    slide_auc_high: report.rocAucHigh,
    threshold,
    accuracy: report.accuracy,
    sensitivity: report.sensitivity,
    specificity: report.specificity,
    froc: lesionLevel.score,
    sensitivity_at: lesionLevel.sensitivityAt,
    slides: outcomes.length,
    positive_slides: positives,
    lesions: outcomes.reduce((a, o) => a + o.lesions, 0),
    itc_lesions: outcomes.reduce((a, o) => a + o.itcLesions, 0),
    detections: outcomes.reduce((a, o) => a + o.detections, 0),
    perSlide: outcomes,
    files: { csv, froc: frocFiles.svg, roc: rocFiles.svg },
  }
  // Everything, for `pcam report --slides` to show beside the run's own evaluations.
  await writeFile(join(out, SLIDE_EVAL_FILE), JSON.stringify(evaluation, null, 2))
  return evaluation
}
