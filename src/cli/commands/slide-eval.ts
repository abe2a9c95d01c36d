/**
 * pcam slide eval: `slide predict` outputs judged against annotations, as Camelyon16 does.
 * @module
 */
import { ValidationError } from '../../errors.js'
import { DEFAULT_CLASSES, parseClassMap } from '../../slide/annotations.js'
import { evaluateSlides } from '../../slide/evaluate.js'
import type { Command } from '../command.js'

export const slideEvalCommand: Command = {
  name: 'slide eval',
  args: '<maps dir>',
  summary: 'Slide-level ROC AUC (DeLong 95% CI) and lesion-level FROC (Camelyon16 rules).',
  description:
    'Example:\n  pcam slide eval maps --annotations annotations/ [--labels slides.csv]\n' +
    '<maps dir> is the --out folder of "pcam slide predict". A slide is tumour when its\n' +
    'annotations (<slide>.geojson, .json or .xml) hold tumour, else as --labels says.\n' +
    'Lesions: tumour annotations grown by 37.5 µm, 8-connected; those under 275 µm along their\n' +
    'longest axis are isolated tumour cells (neither hit nor missed). FROC: the mean sensitivity\n' +
    'at 1/4, 1/2, 1, 2, 4 and 8 false positives per slide. Writes slides-eval.csv, froc.svg/png\n' +
    'and slide-roc.svg/png into the maps folder.',
  options: {
    annotations: {
      type: 'string',
      description: 'Folder of annotation files named like the slides (QuPath GeoJSON or ASAP XML)',
    },
    labels: {
      type: 'string',
      description: 'CSV "slide,label" (0 or 1) for slides without annotations',
    },
    classes: {
      type: 'string',
      default: DEFAULT_CLASSES,
      description:
        'Annotation class names to 1 (tumour), 0 (normal) or exclude, e.g. Tumor=1,Normal=0',
    },
    json: { type: 'boolean', description: 'Print the figures as JSON' },
  },
  async run(values, positionals) {
    if (positionals.length !== 1 || typeof values.annotations !== 'string')
      throw new ValidationError(
        'Give one maps folder and the annotations: pcam slide eval <maps dir> --annotations <dir>',
      )
    const result = await evaluateSlides({
      maps: positionals[0] as string,
      annotations: values.annotations,
      labels: values.labels as string | undefined,
      classes: parseClassMap(values.classes as string),
    })
    if (values.json === true) {
      console.log(JSON.stringify(result, null, 2))
      return
    }
    const f3 = (v: number) => v.toFixed(3)
    console.log(
      `Slides: ${result.slides} (${result.positive_slides} with tumour); ` +
        `lesions: ${result.lesions} (+${result.itc_lesions} isolated tumour cells); detections: ${result.detections}`,
    )
    console.log(
      `Slide ROC AUC ${f3(result.slide_auc)} (95% CI ${f3(result.slide_auc_low)}-${f3(result.slide_auc_high)}); ` +
        `at threshold ${f3(result.threshold)}: accuracy ${f3(result.accuracy)}, ` +
        `sensitivity ${f3(result.sensitivity)}, specificity ${f3(result.specificity)}`,
    )
    const at = Object.entries(result.sensitivity_at)
      .map(([fp, s]) => `${fp}: ${f3(s)}`)
      .join(', ')
    console.log(`FROC ${f3(result.froc)} (sensitivity at FP/slide ${at})`)
    console.log(`Per slide: ${result.files.csv}; charts: ${result.files.froc}, ${result.files.roc}`)
  },
}
