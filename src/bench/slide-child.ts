/**
 * One slide predicted in a fresh process for pcam bench slide, so its peak resident memory is the
 * slide's alone: argv[2] is a JSON {run, slide, out, tissueMask, load}; prints the summary and
 * maxRSS, or its error as JSON on stderr.
 * @module
 */
import { errorToMessage } from '../errors.js'
import { loadSlideModel, type SlideModelOptions } from '../slide/batch.js'
import { predictSlide } from '../slide/predict-slide.js'

const args = JSON.parse(process.argv[2] as string) as {
  run: string
  slide: string
  out: string
  tissueMask: boolean
  load: SlideModelOptions
}
try {
  const model = await loadSlideModel(args.run, args.load)
  try {
    const summary = await predictSlide(args.slide, model, {
      out: args.out,
      tissueMask: args.tissueMask,
    })
    // resourceUsage's maxRSS is in kilobytes.
    console.log(JSON.stringify({ summary, maxRssMb: process.resourceUsage().maxRSS / 1024 }))
  } finally {
    model.dispose()
  }
} catch (error) {
  // The parent rebuilds it (errorFromMessage), so a pcam error keeps its class and message.
  console.error(JSON.stringify({ error: errorToMessage(error) }))
  process.exitCode = 1
}
