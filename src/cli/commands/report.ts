/**
 * pcam report: one self-contained HTML page about a run.
 * @module
 */
import { writeReport } from '../../eval/report.js'
import { ValidationError } from '../../errors.js'
import type { Command } from '../command.js'

export const reportCommand: Command = {
  name: 'report',
  args: '<run>',
  summary: 'One self-contained HTML file: evaluations, charts, training curves, config, caveats.',
  description:
    'Collects what "pcam train" and "pcam eval" left in the run folder; opens offline in any browser.\n' +
    'Example: pcam report runs/mobilenet_v1 --out mobilenet.html [--slides maps]',
  options: {
    out: { type: 'string', description: 'HTML file to write (default <run>/report.html)' },
    slides: {
      type: 'string',
      description:
        'A "slide predict" --out folder judged by "slide eval": adds a whole-slide section (figures, FROC and ROC, each slide\'s overlay, score, hits and misses)',
    },
  },
  async run(values, positionals) {
    const [run, ...rest] = positionals
    if (run === undefined || rest.length > 0)
      throw new ValidationError('Give one run folder: pcam report <run> [--out report.html]')
    const slides = typeof values.slides === 'string' ? [values.slides] : []
    console.log(`Wrote ${await writeReport(run, values.out as string | undefined, slides)}`)
  },
}
