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
    'Example: pcam report runs/mobilenet_v1 --out mobilenet.html',
  options: {
    out: { type: 'string', description: 'HTML file to write (default <run>/report.html)' },
  },
  async run(values, positionals) {
    const [run, ...rest] = positionals
    if (run === undefined || rest.length > 0)
      throw new ValidationError('Give one run folder: pcam report <run> [--out report.html]')
    console.log(`Wrote ${await writeReport(run, values.out as string | undefined)}`)
  },
}
