// GPU utilisation as bench train reports it: nvidia-smi's lines parsed with their own timestamps,
// averaged over the windows of timed steps, and the sampler run against a stand-in nvidia-smi
// (a script on PATH that prints what the real one prints), since this machine may have no GPU.
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  meanUtilization,
  parseUtilizationLine,
  UtilizationSampler,
} from '../../src/bench/gpu-utilization.js'
import { tempDir } from '../helpers/temp-dir.js'

const root = tempDir('gpu-utilization')

/** Runs fn with PATH set to path. */
async function withPath<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH
  process.env.PATH = path
  try {
    return await fn()
  } finally {
    process.env.PATH = saved
  }
}

describe('GPU utilisation samples', () => {
  it("parses nvidia-smi's CSV lines in local time, and nothing else", () => {
    assert.deepEqual(parseUtilizationLine('2026/12/07 22:50:01.123, 87'), {
      time: new Date(2026, 11, 7, 22, 50, 1, 123).getTime(),
      percent: 87,
    })
    assert.equal(parseUtilizationLine('2026/12/07 22:50:01.123, [N/A]'), null)
    assert.equal(parseUtilizationLine('timestamp, utilization.gpu [%]'), null)
    assert.equal(parseUtilizationLine(''), null)
  })

  it('averages only the samples inside the windows', () => {
    const samples = [10, 20, 30, 40, 50].map((percent, i) => ({ time: 1000 * i, percent }))
    assert.equal(meanUtilization(samples, [[1000, 2000]]), 25)
    assert.equal(
      meanUtilization(samples, [
        [0, 0],
        [4000, 9000],
      ]),
      30,
    )
    assert.equal(meanUtilization(samples, [[5000, 6000]]), null)
  })

  it('samples the asked GPU every 100 ms until stopped', async () => {
    const bin = join(root, 'bin')
    const args = join(root, 'args.txt')
    mkdirSync(bin, { recursive: true })
    const script = join(bin, 'nvidia-smi')
    writeFileSync(
      script,
      `#!/bin/sh\necho "$@" > ${args}\nwhile true; do date +'%Y/%m/%d %H:%M:%S.%3N, 42'; sleep 0.05; done\n`,
    )
    chmodSync(script, 0o755)
    const started = Date.now()
    const sampler = await withPath(`${bin}:${process.env.PATH}`, () => UtilizationSampler.start(3))
    assert.ok(sampler)
    await new Promise((resolve) => setTimeout(resolve, 500))
    await sampler.stop()
    assert.match(
      readFileSync(args, 'utf8'),
      /--query-gpu=timestamp,utilization.gpu .*-i 3 -lms 100/,
    )
    assert.ok(sampler.samples.length >= 3, `${sampler.samples.length} samples`)
    assert.equal(meanUtilization(sampler.samples, [[started - 1000, Date.now()]]), 42)
    const count = sampler.samples.length
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.equal(sampler.samples.length, count, 'no samples after stop')
  })

  it('is null where nvidia-smi cannot run', async () => {
    assert.equal(await withPath(join(root, 'empty'), () => UtilizationSampler.start(0)), null)
  })
})
