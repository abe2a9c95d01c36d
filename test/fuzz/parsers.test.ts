/**
 * Every parser of untrusted bytes, fuzzed for a few seconds each (FUZZ_SECONDS; `npm run fuzz`
 * runs ten minutes each). A failure names the input it kept in test/fixtures/fuzz-corpus/<target>/.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { fuzz, fuzzSeconds } from './harness.js'
import { TARGETS } from './targets.js'

describe('fuzzed parsers: a clean error, never a hang, crash or runaway allocation', () => {
  for (const target of Object.keys(TARGETS)) {
    it(target, { timeout: (fuzzSeconds() + 120) * 1000 }, async (t) => {
      const { runs, seeds } = await fuzz(target)
      t.diagnostic(`${runs} inputs from ${seeds} seeds`)
      // The corpus ran, and mutations of it after.
      assert.ok(runs > seeds, `${target}: ${runs} runs for ${seeds} seeds`)
    })
  }
})
