// Ctrl-C on `pcam train` as a user presses it: the run stops after the current batch (not at the
// end of the epoch), a second Ctrl-C waits for the checkpoint instead of killing the process, and
// the same command resumes mid-epoch to the weights and records of an uninterrupted run.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { readSafetensors } from '../../src/weights/safetensors.js'
import { untimedRecords } from '../helpers/run-records.js'
import { makeSyntheticStore } from '../helpers/synthetic-store.js'
import { tempDir } from '../helpers/temp-dir.js'

const BIN = fileURLToPath(new URL('../../../bin/pcam.js', import.meta.url))
const root = tempDir('interrupt')
let store: string

before(async () => {
  // Enough batches that an epoch lasts several seconds, so "after this batch" and "after this
  // epoch" are far apart.
  store = await makeSyntheticStore(root, { train: 480, valid: 32 })
})

const args = (out: string) => [
  BIN,
  'train',
  '--data',
  store,
  '--out',
  out,
  '--arch',
  'resnet18',
  '--size',
  '64',
  '--batch-size',
  '8',
  '--epochs',
  '2',
  '--lr',
  '1e-3',
  '--seed',
  '3',
  '--augment',
  'light',
]

function pcamTrain(out: string) {
  const child = spawn(process.execPath, args(out), { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  )
  return { child, exited, output: () => output }
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > until) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('Ctrl-C during pcam train', () => {
  it('stops after the current batch, survives a second Ctrl-C, and resumes mid-epoch exactly', async () => {
    const whole = join(root, 'whole')
    const uninterrupted = pcamTrain(whole)
    assert.equal((await uninterrupted.exited).code, 0, uninterrupted.output())

    const out = join(root, 'stopped')
    const run = pcamTrain(out)
    // config.json is written once the model and data are set up, just before the first batch.
    await waitFor(() => existsSync(join(out, 'config.json')), 120_000)
    await new Promise((r) => setTimeout(r, 1500))
    const pressed = performance.now()
    run.child.kill('SIGINT')
    // The second press lands while the current batch finishes (a batch takes longer than this).
    await new Promise((r) => setTimeout(r, 20))
    run.child.kill('SIGINT')
    // A third press once the checkpoint is saved, while the process winds down, must not turn
    // the clean stop into death by signal.
    const ended = () => run.child.exitCode !== null || run.child.signalCode !== null
    await waitFor(() => /Stopped; checkpoint saved/.test(run.output()) || ended(), 60_000)
    if (!ended()) run.child.kill('SIGINT')
    const { code, signal } = await run.exited
    const seconds = (performance.now() - pressed) / 1000
    assert.equal(code, 0, `${run.output()}\n(ended by ${signal ?? 'exit'})`)
    assert.match(run.output(), /Still saving the checkpoint/)
    assert.match(run.output(), /Stopped; checkpoint saved/)
    const state = JSON.parse(readFileSync(join(out, 'state.json'), 'utf8'))
    // Mid-epoch of the first epoch: 60 batches an epoch, a few seconds of them done.
    assert.equal(state.position.epoch, 0, JSON.stringify(state.position))
    assert.ok(state.position.batch > 0 && state.position.batch < 60, state.position.batch)
    // A ceiling, not a speed goal: it stops within a batch; ignoring the presses would train on
    // through every epoch (and not print "Stopped", checked above).
    assert.ok(seconds < 60, `took ${seconds.toFixed(1)} s to stop`)

    const resumed = pcamTrain(out)
    assert.equal((await resumed.exited).code, 0, resumed.output())
    assert.match(resumed.output(), /Resuming/)
    assert.deepEqual(untimedRecords(out), untimedRecords(whole))
    const a = readSafetensors(join(whole, 'last.safetensors')).tensors
    const b = readSafetensors(join(out, 'last.safetensors')).tensors
    for (const [name, value] of a)
      assert.deepEqual(b.get(name)!.toArray(), value.toArray(), `${name} differs`)
  })
})
