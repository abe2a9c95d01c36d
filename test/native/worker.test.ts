// The addon loads in worker threads, and training there leaves the main event loop responsive.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Worker } from 'node:worker_threads'

// Trains the reference network for a while in a worker, then reports its last loss.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
;(async () => {
  const t = await import(workerData.torch)
  const { referenceNet } = await import(workerData.net)
  t.manualSeed(1)
  const net = referenceNet()
  const x = t.randn([8, 3, 32, 32])
  const y = t.randint(0, 2, [8, 1]).float()
  const optimizer = new t.Adam([...net.parameters()], { lr: 1e-2 })
  let loss = 0
  for (let step = 0; step < 25; step++) {
    loss = t.scope(() => {
      optimizer.zeroGrad()
      const l = t.bceWithLogits(net.forward(x), y)
      l.backward()
      optimizer.step()
      return l.item()
    })
  }
  parentPort.postMessage({ loss, threads: t.getNumThreads() })
})()
`

function trainInWorker(): Promise<{ loss: number; threads: number }> {
  const base = new URL('../../src/', import.meta.url)
  const workerData = {
    torch: new URL('torch/index.js', base).href,
    net: new URL('bench/reference-net.js', base).href,
  }
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData })
    worker.once('message', (message) => {
      resolve(message)
      void worker.terminate()
    })
    worker.once('error', reject)
  })
}

describe('worker threads', () => {
  it('two workers train at once while main-thread timers keep firing', async () => {
    let ticks = 0
    let longestGap = 0
    let last = performance.now()
    const timer = setInterval(() => {
      const now = performance.now()
      longestGap = Math.max(longestGap, now - last)
      last = now
      ticks++
    }, 10)
    const started = performance.now()
    const results = await Promise.all([trainInWorker(), trainInWorker()])
    clearInterval(timer)
    const elapsed = performance.now() - started
    for (const result of results) {
      assert.ok(result.loss < 0.6, `the worker's network did not learn (loss ${result.loss})`)
      assert.ok(result.threads >= 1)
    }
    // The main thread was never blocked for long: a frozen loop would show one gap the size of the run.
    assert.ok(ticks > 10, `only ${ticks} timer ticks in ${elapsed.toFixed(0)} ms`)
    assert.ok(
      longestGap < elapsed / 2,
      `main loop stalled for ${longestGap.toFixed(0)} ms of ${elapsed.toFixed(0)} ms`,
    )
  })
})
