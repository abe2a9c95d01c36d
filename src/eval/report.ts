/**
 * `pcam report <run>`: one self-contained HTML file about a run (every picture inlined as a data
 * address, no script, no network): the evaluations `pcam eval` left in <run>/eval/, the training
 * curves and epoch table, the LR finder, the configuration, where the data came from, and what
 * the split used means for the figures.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import sharp from 'sharp'
import { savedEvaluations, type SavedEvaluation } from './artifacts.js'
import { shareableConfig } from './model-card.js'
import { trainingChart } from './charts.js'
import { CLASS_COLOURS, displayClassNames } from '../data/grid.js'
import { lrFindChart } from './lr-find-plot.js'
import { describeTta } from '../data/tta.js'
import {
  readHistory,
  readLrFind,
  readRunConfig,
  type EpochRecord,
  type RunConfig,
} from '../run/run-folder.js'
import { memberDirs } from '../run/ensemble.js'
import { SLIDE_FILES } from '../run/slide-files.js'
import { renderSvg, writeChart } from './render.js'

const EVAL_CHARTS = ['roc', 'pr', 'confusion', 'calibration'] as const

function escapeHtml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)
}

function dataUrl(bytes: Buffer | string, type: string): string {
  return `data:${type};base64,${Buffer.from(bytes).toString('base64')}`
}

function image(bytes: Buffer | string, type: string, alt: string): string {
  return `<img src="${dataUrl(bytes, type)}" alt="${escapeHtml(alt)}">`
}

function table(header: string[], rows: (string | number)[][]): string {
  const cell = (v: string | number, tag: string) =>
    `<${tag}${typeof v === 'number' ? ' class="num"' : ''}>${escapeHtml(String(v))}</${tag}>`
  return (
    `<table><thead><tr>${header.map((h) => cell(h, 'th')).join('')}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((v) => cell(v, 'td')).join('')}</tr>`).join('') +
    '</tbody></table>'
  )
}

const f3 = (v: number) => v.toFixed(3)

/** What the split behind the figures means for them, in a reviewer's words. */
export function splitCaveat(splitMethod: string | undefined): string {
  if (!splitMethod) return 'The run does not record how its data was split.'
  if (splitMethod.startsWith('random'))
    return (
      'The validation patches were drawn at random from the same pool as the training patches, so ' +
      'patches of one slide (one patient) can be on both sides. Figures on such a split are ' +
      "optimistic for new patients (the reference study's 98.6% accuracy was measured this way); " +
      "use a split by slide or PCam's official test split to judge generalisation."
    )
  if (splitMethod.startsWith('by slide'))
    return 'No slide contributes patches to both training and validation: figures estimate performance on new slides of the same centres.'
  return (
    "The source's own split was kept. PCam's official train, valid and test splits come from " +
    'different slides; for other sources it is only as good as their authors made it.'
  )
}

async function evaluationSection(
  dir: string,
  name: string,
  e: SavedEvaluation,
  classes: string[],
): Promise<string> {
  const title = `${e.split} split, ${e.patches} patches${e.tta ? `, ${describeTta(e.tta)}` : ''}`
  const thresholdNote =
    e.thresholdFrom === 'run'
      ? `threshold ${f3(e.threshold)}, the run's own (chosen on its valid split)`
      : `threshold ${f3(e.threshold)}, chosen on this split itself: optimistic`
  const metrics = table(
    ['metric', 'value'],
    [
      ['ROC AUC (95% CI, DeLong)', `${f3(e.rocAuc)} (${f3(e.rocAucLow)}-${f3(e.rocAucHigh)})`],
      ['PR AUC (average precision)', f3(e.averagePrecision)],
      ['accuracy', f3(e.accuracy)],
      ['error rate', f3(e.errorRate)],
      ['sensitivity (recall)', f3(e.sensitivity)],
      ['specificity', f3(e.specificity)],
      ['precision', f3(e.precision)],
      ['F1', f3(e.f1)],
      ['log loss', f3(e.logLoss)],
      ['Brier score', f3(e.brier)],
      ['expected calibration error', f3(e.ece)],
      ['TP / FP / TN / FN', `${e.tp} / ${e.fp} / ${e.tn} / ${e.fn}`],
    ],
  )
  const charts = EVAL_CHARTS.filter((c) => existsSync(join(dir, `${c}.svg`)))
    .map((c) => image(readFileSync(join(dir, `${c}.svg`)), 'image/svg+xml', `${c} chart, ${title}`))
    .join('\n')
  const members = e.members
    ? '<h4>Members and ensemble</h4>' +
      table(
        [
          'model',
          'ROC AUC',
          'accuracy',
          'sensitivity',
          'specificity',
          'log loss',
          'Brier',
          'threshold',
        ],
        [...e.members, { ...e, member: 'ensemble (mean probability)' }].map((r) => [
          r.member,
          Number(f3(r.rocAuc)),
          Number(f3(r.accuracy)),
          Number(f3(r.sensitivity)),
          Number(f3(r.specificity)),
          Number(f3(r.logLoss)),
          Number(f3(r.brier)),
          Number(f3(r.threshold)),
        ]),
      )
    : ''
  const confused = table(
    ['actual', 'predicted', 'patches'],
    e.mostConfused.map((m) => [m.actual, m.predicted, m.count]),
  )
  // Tissue photographs are five times smaller as JPEG than as PNG, which keeps the report light.
  const topLossesJpeg = existsSync(join(dir, 'top-losses.png'))
    ? await sharp(join(dir, 'top-losses.png'))
        .resize({ width: 1200, withoutEnlargement: true })
        .jpeg({ quality: 75 })
        .toBuffer()
    : null
  const losses = topLossesJpeg
    ? `<h4>Top losses</h4><p>The patches the model got most confidently wrong, each beside its Grad-CAM overlay for the class it predicted (red: the evidence the network used). Captions: actual class → predicted class; the loss; p, the predicted probability of the positive class. Borders are coloured by the actual class: ${classKey(classes)}.</p>` +
      `<div class="wide">${image(topLossesJpeg, 'image/jpeg', `top losses, ${title}`)}</div>`
    : ''
  return (
    `<section><h3>${escapeHtml(title)} <small>(${escapeHtml(name)})</small></h3>` +
    `<p>${escapeHtml(thresholdNote)}.</p><div class="row">${metrics}<div>` +
    `<h4>Most confused</h4>${confused}</div></div>${members}<div class="charts">${charts}</div>${losses}</section>`
  )
}

/** An ensemble's members: their best valid epochs, and the ensemble's valid figures. */
function membersSection(run: string, config: RunConfig): string {
  const rows = memberDirs(run, config).map((dir, i) => {
    const member = readRunConfig(dir)
    const v = member.validation
    return [
      config.ensemble?.members[i] ?? dir,
      String(member.recipe.seed ?? '?'),
      v ? `${v.stage} ${v.epoch + 1}` : '-',
      v ? Number(f3(v.auc)) : '-',
      v ? Number(f3(v.accuracy)) : '-',
      member.threshold ? Number(f3(member.threshold.value)) : '-',
    ]
  })
  const v = config.validation
  rows.push([
    'ensemble',
    '',
    '',
    v ? Number(f3(v.auc)) : '-',
    v ? Number(f3(v.accuracy)) : '-',
    config.threshold ? Number(f3(config.threshold.value)) : '-',
  ])
  return (
    '<h2>Ensemble members</h2><p>Each member is an ordinary run in its own folder (its training curves are in its own report); the ensemble averages their probabilities, and its threshold was chosen on the averaged valid probabilities.</p>' +
    table(['member', 'seed', 'best epoch', 'valid ROC AUC', 'valid accuracy', 'threshold'], rows)
  )
}

/** The figures `pcam slide eval` leaves in a maps folder (slides-eval.json), as the report reads them. */
interface SlideEvalFile {
  slide_auc: number
  slide_auc_low: number
  slide_auc_high: number
  froc: number
  sensitivity_at: Record<string, number>
  threshold: number
  accuracy: number
  sensitivity: number
  specificity: number
  slides: number
  positive_slides: number
  lesions: number
  itc_lesions: number
  perSlide: {
    slide: string
    folder: string
    label: number
    score: number
    lesions: number
    hits: number
    falsePositives: number
  }[]
}

/** A maps folder judged by `pcam slide eval`: its figures, charts, and each slide's overlay. */
async function slidesSection(maps: string): Promise<string> {
  const file = join(maps, 'slides-eval.json')
  if (!existsSync(file))
    return `<h2>Whole slides: ${escapeHtml(basename(resolve(maps)))}</h2><p>No slide evaluation here yet: run <code>pcam slide eval ${escapeHtml(maps)} --annotations &lt;dir&gt;</code>.</p>`
  const e = JSON.parse(readFileSync(file, 'utf8')) as SlideEvalFile
  const f3 = (v: number) => Number(v.toFixed(3))
  const parts = [
    `<h2>Whole slides: ${escapeHtml(basename(resolve(maps)))}</h2>`,
    `<p>${e.slides} slides (${e.positive_slides} with tumour), ${e.lesions} lesions (+${e.itc_lesions} isolated tumour cells, not counted), judged by Camelyon16's rules; slide score: the highest tile probability.</p>`,
    table(
      [
        'slide ROC AUC (95% CI)',
        'FROC',
        ...Object.keys(e.sensitivity_at).map((k) => `sens. at ${k} FP`),
        'accuracy',
        'sensitivity',
        'specificity',
        'threshold',
      ],
      [
        [
          `${f3(e.slide_auc)} (${f3(e.slide_auc_low)}-${f3(e.slide_auc_high)})`,
          f3(e.froc),
          ...Object.values(e.sensitivity_at).map(f3),
          f3(e.accuracy),
          f3(e.sensitivity),
          f3(e.specificity),
          f3(e.threshold),
        ],
      ],
    ),
  ]
  const charts = ['froc.svg', 'slide-roc.svg'].filter((c) => existsSync(join(maps, c)))
  parts.push(
    `<div class="row charts">${charts.map((c) => image(readFileSync(join(maps, c)), 'image/svg+xml', c)).join('')}</div>`,
  )
  const rows: string[] = []
  for (const s of e.perSlide) {
    const overlay = join(maps, s.folder, SLIDE_FILES.overlay)
    const thumbnail = existsSync(overlay)
      ? image(
          await sharp(overlay).resize({ width: 200, withoutEnlargement: true }).png().toBuffer(),
          'image/png',
          `${s.folder} overlay`,
        )
      : ''
    const cells = [
      escapeHtml(basename(s.slide)),
      s.label ? 'tumour' : 'normal',
      String(f3(s.score)),
      String(s.lesions),
      String(s.hits),
      String(s.lesions - s.hits),
      String(s.falsePositives),
    ].map((v) => `<td>${v}</td>`)
    rows.push(`<tr><td>${thumbnail}</td>${cells.join('')}</tr>`)
  }
  parts.push(
    `<table><tr>${['overlay', 'slide', 'label', 'score', 'lesions', 'hit', 'missed', 'false positives'].map((h) => `<th>${h}</th>`).join('')}</tr>${rows.join('')}</table>`,
  )
  return parts.join('\n')
}

/** Each class's name in its border colour (as the top losses and grids draw them). */
function classKey(classes: string[]): string {
  return displayClassNames(classes)
    .map(
      (c, i) =>
        `<span class="swatch" style="border-color: ${CLASS_COLOURS[i % CLASS_COLOURS.length]}">${escapeHtml(c)}</span>`,
    )
    .join(' ')
}

/** Writes the report (default <run>/report.html); returns its path. */
export async function writeReport(
  run: string,
  out = join(run, 'report.html'),
  slideMaps: string[] = [],
): Promise<string> {
  const config = readRunConfig(run)
  const history = readHistory(run)
  const evaluations = savedEvaluations(run)
  const parts: string[] = []
  const runName = basename(resolve(run))
  parts.push(
    `<h1>pcam report: ${escapeHtml(runName)}</h1>`,
    `<p class="lead">${escapeHtml(config.model.arch)} (${escapeHtml(String(config.model.head))} head), ` +
      `${config.inputSize}x${config.inputSize} input, classes ${escapeHtml(displayClassNames(config.classes).join(', '))}; ` +
      `pcam ${escapeHtml(config.pcamVersion ?? '?')}. For research use: not a medical device.</p>`,
  )
  if (config.ensemble)
    parts.push(
      `<p class="lead">An ensemble of ${config.ensemble.members.length} members (seeds from ${escapeHtml(String(config.recipe.seed))}): every figure below is of the mean of their probabilities, unless a member is named.</p>`,
    )

  parts.push('<h2>Caveats</h2><ul>')
  parts.push(`<li>${escapeHtml(splitCaveat(config.data?.splitMethod))}</li>`)
  parts.push(
    '<li>The saved model is the epoch with the best valid ROC AUC, so figures on the valid split are slightly optimistic; a test split is the unbiased estimate.</li>',
  )
  if (evaluations.length === 0)
    parts.push(
      `<li>No evaluation yet: run <code>pcam eval --model ${escapeHtml(run)} --data &lt;store&gt;</code> to add one.</li>`,
    )
  parts.push('</ul>')

  if (evaluations.length > 0) {
    parts.push('<h2>Evaluation</h2>')
    for (const e of evaluations)
      parts.push(await evaluationSection(e.dir, e.name, e.metrics, config.classes))
  }

  for (const maps of slideMaps) parts.push(await slidesSection(maps))
  if (config.ensemble) parts.push(membersSection(run, config))
  if (history.length > 0) {
    parts.push('<h2>Training</h2>')
    // The curves also go beside the run's other files, as SVG and PNG.
    const chart = await writeChart(trainingChart(history), join(run, 'training'))
    parts.push(image(readFileSync(chart.svg), 'image/svg+xml', 'training curves'))
    // Epochs counted over the whole run, as the charts count them; the saved one marked.
    const best = config.validation
    const isBest = (r: EpochRecord) =>
      best !== undefined && r.stage === best.stage && r.epoch === best.epoch
    parts.push(
      table(
        [
          'epoch',
          'stage (its epoch)',
          'train loss',
          'valid loss',
          'accuracy',
          'error rate',
          'ROC AUC',
          'time (s)',
          'images/s',
          'saved',
        ],
        history.map((r, k) => [
          k + 1,
          `${r.stage} (${r.epoch + 1})`,
          r.trainLoss.toFixed(4),
          r.validLoss.toFixed(4),
          f3(r.accuracy),
          f3(r.errorRate),
          f3(r.auc),
          Math.round(r.seconds),
          Math.round(r.imagesPerSec),
          isBest(r) ? 'best valid AUC' : '',
        ]),
      ),
    )
  }
  const found = readLrFind(run)
  if (found) {
    parts.push('<h2>Learning-rate finder</h2>')
    parts.push(
      image(await renderSvg(lrFindChart(found)), 'image/svg+xml', 'learning-rate finder curve'),
    )
  }

  // Folders by name only: the machine's paths stay on the machine.
  const shared = shareableConfig(config)
  parts.push('<h2>Data</h2>')
  parts.push(
    table(
      ['', ''],
      [
        ['store', shared.data?.store ?? '?'],
        [
          'source',
          shared.data
            ? `${shared.data.source.description} (${shared.data.source.kind}: ${shared.data.source.paths.join(', ')})`
            : '?',
        ],
        ['split', shared.data?.splitMethod ?? '?'],
        [
          'normalisation',
          `mean ${shared.normalization.mean.map((v) => v.toFixed(3)).join(', ')}; ` +
            `std ${shared.normalization.std.map((v) => v.toFixed(3)).join(', ')}`,
        ],
      ],
    ),
  )
  // One row per setting, each value on one line: config.json itself is beside the run.
  parts.push('<h2>Configuration</h2>')
  parts.push(
    table(
      ['setting', 'value'],
      Object.entries(shared).map(([key, value]) => [
        key,
        typeof value === 'string' ? value : JSON.stringify(value),
      ]),
    ),
    `<details><summary>config.json</summary><pre>${escapeHtml(JSON.stringify(shared, null, 2))}</pre></details>`,
  )

  // A table of contents from the sections, each heading given an anchor.
  const toc: string[] = []
  const body = parts.join('\n').replace(/<h2>(.*?)<\/h2>/g, (_, title: string) => {
    const id = `s${toc.length + 1}`
    toc.push(`<a href="#${id}">${title}</a>`)
    return `<h2 id="${id}">${title}</h2>`
  })
  const generated = `Generated ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pcam report: ${escapeHtml(runName)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 1.5rem .5rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: left; overflow-wrap: anywhere; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.row { display: flex; flex-wrap: wrap; align-items: flex-start; }
.charts img { width: 48%; min-width: 320px; } img { max-width: 100%; }
pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; font-size: .8rem; }
.lead { color: #555; }
.toc { margin: .5rem 0 1rem; } .toc a { margin-right: .2rem; }
.swatch { border: 3px solid; padding: 0 .3rem; } .wide img { width: 100%; }
figcaption { font-size: .85rem; }
</style></head>
<body>
${body.replace('</p>', `</p>\n<p class="lead">${generated}</p>\n<nav class="toc">${toc.join(' · ')}</nav>`)}
</body></html>
`
  await writeFile(out, html)
  return out
}
