// pcam on a device against PyTorch on the same device: training steps of the reference network
// in fp32 and under bf16 autocast, and (on CUDA) fp16 autocast with loss scaling, whose skipped
// steps and scale changes must match torch.cuda.amp.GradScaler's. `make test-gpu` runs these with
// PCAM_DEVICE=cuda (the default); PCAM_DEVICE=cpu runs the same comparisons on the CPU. They skip,
// saying why, where the device is missing, so that `make test` stays green on CPU-only machines.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { referenceNet } from '../../src/bench/reference-net.js'
import { runPythonJson } from '../../src/bench/python.js'
import { GradScaler } from '../../src/learn/callbacks/grad-scaler.js'
import { MixedPrecision } from '../../src/learn/callbacks/mixed-precision.js'
import { Learner, type Callback } from '../../src/learn/learner.js'
import * as t from '../../src/torch/index.js'
import type { Tensor } from '../../src/torch/index.js'
import {
  assertClose,
  decode,
  encode,
  PARITY_DIR,
  type EncodedTensor,
} from '../helpers/torch-reference.js'
import { deviceUnderTest } from '../helpers/device-under-test.js'

const { request: REQUEST, device, skip: missing } = deviceUnderTest()
const onCuda = device !== 'cpu'
const STEPS = 3

interface Reply {
  losses: number[]
  grads: Record<string, EncodedTensor>
  state: Record<string, EncodedTensor>
  scales?: number[]
  skipped?: boolean[]
}

/** The same network, batch and SGD steps in PyTorch on the device. */
function reference(
  net: ReturnType<typeof referenceNet>,
  x: Tensor,
  y: Tensor,
  options: { autocast?: 'bf16' | 'fp16'; scaler?: Record<string, number>; steps?: number },
): Reply {
  const names = [...net.namedParameters()].map(([n]) => n)
  return runPythonJson(join(PARITY_DIR, 'training_reference.py'), {
    kind: 'sgd',
    state: Object.fromEntries([...net.stateDict()].map(([k, v]) => [k, encode(v)])),
    groups: [{ names, options: { lr: 0.05, momentum: 0.9 } }],
    schedule: Array.from({ length: options.steps ?? STEPS }, () => [{}]),
    x: encode(x),
    y: encode(y),
    device,
    autocast: options.autocast ?? null,
    scaler: options.scaler ?? null,
  }) as Reply
}

/** A seeded network and batch on the CPU (sent to PyTorch as they are). */
function setUp() {
  t.manualSeed(7)
  return { net: referenceNet(), x: t.randn([4, 3, 16, 16]), y: t.randint(0, 2, [4, 1]).float() }
}

/**
 * Trains the network on the device through a Learner: SGD as the reference's, the given
 * callbacks, one epoch of `steps` copies of the batch. Returns the first step's gradients (on the
 * CPU) and what a recorder saw.
 */
async function trainPcam(
  net: ReturnType<typeof referenceNet>,
  x: Tensor,
  y: Tensor,
  callbacks: Callback[],
  steps = STEPS,
) {
  if (onCuda) net.to(device)
  const xd = onCuda ? x.to(device) : x
  const yd = onCuda ? y.to(device) : y
  const batches = Array.from({ length: steps }, () => ({ x: xd, y: yd }))
  const grads = new Map<string, Tensor>()
  const losses: number[] = []
  const probe: Callback = {
    // After the scaler (order -5) has unscaled the gradients, as the reference reads them.
    order: 1,
    afterBackward: (learn) => {
      if (learn.iter !== 0 || !learn.training) return
      for (const [name, p] of learn.model.namedParameters())
        if (p.grad) grads.set(name, t.keep(p.grad.to('cpu')))
    },
    afterBatch: (learn) => {
      if (learn.training) losses.push(learn.lossValue)
    },
  }
  const learn = new Learner(net, batches, [{ x: xd, y: yd }], {
    opt: (groups, defaults) => new t.SGD(groups, { ...defaults, lr: 0.05, momentum: 0.9 }),
    wd: 0,
    lossFunc: (logits, labels, reduction) => t.bceWithLogits(logits.float(), labels, { reduction }),
    callbacks: [...callbacks, probe],
  })
  learn.setHyper([0.05], 0.9)
  await learn.fit(1)
  learn.dispose()
  const state = new Map([...net.stateDict()].map(([k, v]) => [k, t.keep(v.detach().to('cpu'))]))
  if (onCuda) for (const v of [xd, yd]) v.dispose()
  return { grads, losses, state }
}

function compare(
  ours: Awaited<ReturnType<typeof trainPcam>>,
  reply: Reply,
  tolerance: { atol: number; rtol: number },
): void {
  ours.losses.forEach((loss, i) =>
    assert.ok(
      Math.abs(loss - reply.losses[i]!) <= tolerance.atol + tolerance.rtol * Math.abs(loss),
      `step ${i}: loss ${loss} vs ${reply.losses[i]}`,
    ),
  )
  for (const [name, grad] of ours.grads)
    assertClose(grad, decode(reply.grads[name]!), { what: `gradient of ${name}`, ...tolerance })
  for (const [name, value] of ours.state)
    assertClose(value, decode(reply.state[name]!), { what: `${name} after training`, ...tolerance })
}

describe(`training on ${REQUEST} against PyTorch on ${REQUEST}`, { skip: missing }, () => {
  it('fp32: losses, gradients and weights after SGD steps', async () => {
    const { net, x, y } = setUp()
    const reply = reference(net, x, y, {})
    const ours = await trainPcam(net, x, y, [])
    // cuDNN may use TF32 for convolutions on both sides: GPU tolerances are TF32's.
    compare(ours, reply, onCuda ? { atol: 1e-3, rtol: 1e-2 } : { atol: 1e-5, rtol: 1e-3 })
    net.dispose()
  })

  it('bf16 autocast: the forward pass in bfloat16, the loss and the step in float32', async () => {
    const { net, x, y } = setUp()
    const reply = reference(net, x, y, { autocast: 'bf16' })
    const type = onCuda ? 'cuda' : 'cpu'
    const ours = await trainPcam(net, x, y, [new MixedPrecision('bf16', type)])
    compare(ours, reply, { atol: 2e-2, rtol: 5e-2 })
    net.dispose()
  })

  it(
    'fp16 with loss scaling: skipped steps and the scale follow torch.cuda.amp.GradScaler',
    { skip: !onCuda && 'fp16 autocast and loss scaling are for CUDA' },
    async () => {
      // 2^40 overflows float16 gradients: every step is skipped and the scale halves. 2^10 does
      // not: after two good steps (growthInterval 2) it doubles.
      for (const initScale of [2 ** 40, 2 ** 10]) {
        const { net, x, y } = setUp()
        const settings = { init_scale: initScale, growth_interval: 2 }
        const reply = reference(net, x, y, { autocast: 'fp16', scaler: settings })
        const scaler = new GradScaler({ initScale, growthInterval: 2 })
        const scales: number[] = []
        const watch: Callback = {
          beforeBatch: (learn) => void (learn.training && scales.push(scaler.scale)),
        }
        const ours = await trainPcam(net, x, y, [new MixedPrecision('fp16', 'cuda'), scaler, watch])
        assert.deepEqual(scales, reply.scales, `scales from ${initScale}`)
        assert.equal(scaler.skippedSteps, reply.skipped!.filter(Boolean).length)
        for (const [name, value] of ours.state)
          assertClose(value, decode(reply.state[name]!), {
            what: `${name} after fp16 steps from scale ${initScale}`,
            atol: 2e-2,
            rtol: 5e-2,
          })
        net.dispose()
      }
    },
  )
})
