// Data-parallel training on PyTorch's c10d (Gloo) with 2 ranks on loopback: the same parameters
// as one process on the global batches, identical on every rank; gathering uneven shards; the
// launcher end to end; a rank killed mid-run stops the others with a message naming it, and the
// same command resumes from the last checkpoint.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { freePort } from '../../src/learn/launcher.js'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { AdamW, manualSeed } from '../../src/torch/index.js'
import { makeSyntheticStore } from '../helpers/synthetic-store.js'
import { batchNormNetwork, bnOptimizer, globalBatch, stepsNetwork, trainSteps } from './steps.js'
import { tempDir } from '../helpers/temp-dir.js'

const RANK_SCRIPT = fileURLToPath(new URL('./rank.js', import.meta.url))
const root = tempDir('dist')
let store = ''

before(async () => {
  store = await makeSyntheticStore(root)
})

function run(command: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (c: Buffer) => (output += c.toString()))
  child.stderr.on('data', (c: Buffer) => (output += c.toString()))
  const done = new Promise<{ code: number | null; output: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, output })),
  )
  return { child, done, output: () => output }
}

async function ranks(scenario: string, worldSize: number): Promise<unknown[]> {
  const port = await freePort()
  const outs = Array.from({ length: worldSize }, (_, r) => join(root, `${scenario}-${r}.json`))
  const results = await Promise.all(
    outs.map(
      (out, r) =>
        run(process.execPath, [
          RANK_SCRIPT,
          scenario,
          String(r),
          String(worldSize),
          String(port),
          out,
        ]).done,
    ),
  )
  for (const [r, result] of results.entries())
    assert.equal(result.code, 0, `rank ${r}: ${result.output}`)
  return outs.map((out) => JSON.parse(readFileSync(out, 'utf8')))
}

/** Resolves with the condition's value once it is truthy (checked every 20 ms). */
function waitFor<T>(condition: () => T | null | undefined | false): Promise<T> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const value = condition()
      if (value) {
        clearInterval(timer)
        resolve(value)
      }
    }, 20)
  })
}

/** The epoch numbers a run folder's metrics.jsonl holds, in order. */
const epochsOf = (out: string) =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).epoch as number)

const pcam = join(PACKAGE_ROOT, 'bin', 'pcam.js')
const trainArgs = (out: string, epochs: number) => [
  pcam,
  'train',
  '--data',
  store,
  '--arch',
  'small',
  '--head',
  'linear',
  '--epochs',
  String(epochs),
  '--batch-size',
  '8',
  '--lr',
  '3e-3',
  '--augment',
  'light',
  '--out',
  out,
  '--nproc',
  '2',
]

describe('distributed (c10d, Gloo, 2 ranks)', () => {
  it('two ranks end with the parameters of one process trained on the global batches', async () => {
    const [rank0, rank1] = (await ranks('steps', 2)) as number[][][]
    assert.deepEqual(rank0, rank1, 'every rank holds identical weights')
    manualSeed(100) // rank 0's initial weights
    const model = stepsNetwork()
    trainSteps(
      model,
      new AdamW([...model.parameters()], { lr: 1e-2, weightDecay: 0.01 }),
      globalBatch,
    )
    const single = [...model.parameters()].map((p) => [...(p.data() as Float32Array)])
    let worst = 0
    single.forEach((values, i) =>
      values.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - rank0![i]![k]!)))),
    )
    assert.ok(worst < 1e-5, `largest difference ${worst}`)
    // And training moved them: this is not the comparison of two untouched networks.
    manualSeed(100)
    const untouched = [...stepsNetwork().parameters()].map((p) => [...(p.data() as Float32Array)])
    assert.notDeepEqual(untouched, single)
  })

  it('synchronised batch norm: two ranks equal one process with batch norm over the global batch', async () => {
    const [rank0, rank1] = (await ranks('sync-bn', 2)) as number[][][]
    assert.deepEqual(rank0, rank1, 'identical parameters and running statistics on every rank')
    manualSeed(100)
    const model = batchNormNetwork().train()
    trainSteps(model, bnOptimizer(model), (step) => globalBatch(step, 16))
    const single = [...model.parameters(), ...model.buffers()]
      .filter((t) => t.dtype === 'float32')
      .map((t) => [...(t.data() as Float32Array)])
    let worst = 0
    single.forEach((values, i) =>
      values.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - rank0![i]![k]!)))),
    )
    assert.ok(worst < 1e-5, `largest difference ${worst}`)
  })

  it('gathers uneven shards in rank order, and agrees on a flag any rank raises', async () => {
    const [a, b, c] = (await ranks('gather', 3)) as { gathered: number[]; any: boolean }[]
    const whole = [0, 1, 10, 11, 12, 20, 21, 22, 23]
    for (const r of [a, b, c]) assert.deepEqual(r, { gathered: whole, any: true })
  })

  it("--bn-stats: rank 0's running statistics, their mean, or each rank's own", async () => {
    assert.deepEqual(await ranks('bn-rank0', 2), [
      [1, 1],
      [1, 1],
    ])
    assert.deepEqual(await ranks('bn-mean', 2), [
      [1.5, 1.5],
      [1.5, 1.5],
    ])
    assert.deepEqual(await ranks('bn-local', 2), [
      [1, 1],
      [2, 2],
    ])
  })

  it('pcam train --nproc 2 learns, with rank 0 writing the run folder', async () => {
    const out = join(root, 'run-launch')
    const { code, output } = await run(process.execPath, trainArgs(out, 3)).done
    assert.equal(code, 0, output)
    assert.match(output, /rank 0: pid \d+\nrank 1: pid \d+/)
    assert.match(output, /Done\. Best valid ROC AUC (0\.9\d+|1\.0000)/)
    assert.deepEqual(epochsOf(out), [0, 1, 2], 'one line per epoch, from rank 0 only')
  })

  it('--nnodes 2: two launchers (two "machines" on loopback) form one group', async () => {
    const out = join(root, 'run-nodes')
    const port = String(await freePort())
    const node = (rank: number) => {
      const args = trainArgs(out, 2).map((a) => (a === '--nproc' ? '--nnodes' : a))
      // trainArgs ends with --nproc 2: as --nnodes 2, each node runs one rank.
      return run(process.execPath, [...args, '--node-rank', String(rank), '--master-port', port])
        .done
    }
    const [zero, one] = await Promise.all([node(0), node(1)])
    assert.equal(zero.code, 0, zero.output)
    assert.equal(one.code, 0, one.output)
    assert.match(zero.output, /rank 0: pid/)
    assert.match(one.output, /rank 1: pid/)
    assert.match(zero.output, /Done\. Best valid ROC AUC/)
    assert.deepEqual(epochsOf(out), [0, 1])
  })

  it('a rank killed mid-run stops the other with a message naming it; the same command resumes', async () => {
    const out = join(root, 'run-kill')
    const first = run(process.execPath, trainArgs(out, 40))
    // Kill rank 1 once the first epoch is checkpointed.
    const pid = await waitFor(() => {
      const match = /rank 1: pid (\d+)/.exec(first.output())
      return match && existsSync(join(out, 'state.json')) && Number(match[1])
    })
    const killedAt = performance.now()
    process.kill(pid, 'SIGKILL')
    const { code, output } = await first.done
    const seconds = (performance.now() - killedAt) / 1000
    assert.notEqual(code, 0)
    assert.match(
      output,
      /Rank 1 was killed by SIGKILL; the other ranks were stopped\. Run the same command to resume/,
    )
    // A ceiling for the hang this guards against (the others waiting on gloo's 30-minute
    // timeout), not a speed goal: the group goes down in about a second.
    assert.ok(seconds < 60, `the group went down in ${seconds.toFixed(1)} s`)
    const done = epochsOf(out).length
    assert.ok(done < 40, `${done} epochs before the kill`)
    const second = await run(process.execPath, trainArgs(out, 40)).done
    assert.equal(second.code, 0, second.output)
    assert.match(second.output, /Resuming .* where it stopped/)
    assert.deepEqual(
      epochsOf(out),
      Array.from({ length: 40 }, (_, k) => k),
      'every epoch once, in order',
    )
  })

  it('Ctrl-C on the launcher stops every rank after the same batch, checkpointed; the run resumes', async () => {
    const out = join(root, 'run-interrupt')
    const first = run(process.execPath, trainArgs(out, 40))
    await waitFor(() => existsSync(join(out, 'state.json')))
    first.child.kill('SIGINT')
    const { code, output } = await first.done
    assert.equal(code, 0, output)
    assert.match(output, /Stopped; checkpoint saved\. Resume with the same command/)
    assert.doesNotMatch(output, /\[rank 1\].*(error|Error)/)
    const second = await run(process.execPath, trainArgs(out, 40)).done
    assert.equal(second.code, 0, second.output)
    assert.deepEqual(
      epochsOf(out),
      Array.from({ length: 40 }, (_, k) => k),
    )
  })

  it('bench distributed measures 1 and 2 ranks and the all-reduce time', async () => {
    const { benchDistributed } = await import('../../src/bench/distributed.js')
    const levels = await benchDistributed({
      ranks: [1, 2],
      batchSize: 4,
      size: 32,
      warmup: 1,
      steps: 3,
      precision: 'fp32',
    })
    assert.deepEqual(
      levels.map((l) => l.ranks),
      [1, 2],
    )
    assert.equal(levels[0]!.allReduceMsPerStep, 0, 'one rank reduces nothing')
    assert.ok(levels[1]!.allReduceMsPerStep > 0)
    for (const l of levels) assert.ok(l.imagesPerSec > 0 && l.stepMs > 0 && l.efficiency > 0)
    assert.ok(
      levels.every((l) => l.precision === 'fp32'),
      'the ranks trained in the precision asked for',
    )
  })
})
