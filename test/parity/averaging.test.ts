// Weight averaging against PyTorch: the EMA callback (with and without its warm-up) and SWA's
// equal average with update_bn, on the reference network after the same SGD steps, against
// torch.optim.swa_utils.AveragedModel and update_bn. Checks every parameter, every batch-norm
// statistic of the SWA model, and that the raw weights and statistics come back after a swap.
import { describe, it } from 'node:test'
import { join } from 'node:path'
import { referenceNet } from '../../src/bench/reference-net.js'
import { runPythonJson } from '../../src/bench/python.js'
import { ExponentialMovingAverage } from '../../src/learn/callbacks/ema.js'
import { StochasticWeightAveraging } from '../../src/learn/callbacks/swa.js'
import type { Learner } from '../../src/learn/learner.js'
import * as t from '../../src/torch/index.js'
import type { Tensor } from '../../src/torch/index.js'
import {
  assertClose,
  decode,
  encode,
  PARITY_DIR,
  type EncodedTensor,
} from '../helpers/torch-reference.js'

type Encoded = Record<string, EncodedTensor>
const STEPS = 4
const LR = 0.05
const DECAY = 0.6

function assertState(actual: Map<string, Tensor>, expected: Encoded, what: string): void {
  for (const [name, spec] of Object.entries(expected)) {
    const value = actual.get(name)
    if (!value) throw new Error(`${what}: no ${name}`)
    assertClose(value.detach(), decode(spec), {
      what: `${what} ${name}`,
      atol: 1e-5,
      rtol: 1e-3,
    })
  }
}

/** A copy of the model's state dict now. */
const snapshot = (state: Map<string, Tensor>) =>
  t.noGrad(() => new Map([...state].map(([k, v]) => [k, t.keep(v.clone())])))

describe('weight averaging matches PyTorch', () => {
  it('EMA (warm-up and constant decay), SWA and update_bn after SGD steps', () => {
    t.manualSeed(11)
    const net = referenceNet()
    const xs = Array.from({ length: STEPS }, () => t.randn([4, 3, 16, 16]))
    const ys = Array.from({ length: STEPS }, () => t.randint(0, 2, [4, 1]).float())
    const reply = runPythonJson(join(PARITY_DIR, 'averaging_reference.py'), {
      state: Object.fromEntries([...net.stateDict()].map(([k, v]) => [k, encode(v)])),
      xs: xs.map(encode),
      ys: ys.map(encode),
      lr: LR,
      decay: DECAY,
    }) as { raw: Encoded; emaWarmup: Encoded; emaConstant: Encoded; swa: Encoded }

    // The callbacks read the model, the stage, the epoch and the training batches (update_bn's).
    const train = {
      *epoch() {
        for (const [i, x] of xs.entries())
          yield { x: x.clone(), y: ys[i]!.clone(), indices: t.zeros([1]) }
      },
    }
    const learn = { model: net, stage: 'swa', epoch: 0, train } as unknown as Learner
    const warm = new ExponentialMovingAverage(DECAY)
    const constant = new ExponentialMovingAverage(DECAY, { warmup: false })
    const swa = new StochasticWeightAveraging()
    const optimizer = new t.SGD([{ params: [...net.parameters()] }], { lr: LR, momentum: 0.9 })
    warm.beforeFit(learn)
    constant.beforeFit(learn)
    net.train()
    let swaState = new Map<string, Tensor>()
    for (const [step, x] of xs.entries()) {
      t.scope(() => {
        optimizer.zeroGrad()
        t.bceWithLogits(net.forward(x), ys[step]!).backward()
      })
      optimizer.step()
      warm.afterStep(learn)
      constant.afterStep(learn)
      // As at the end of an SWA epoch: averaged, swapped in with its statistics, swapped back.
      swa.afterTrain(learn)
      if (step === STEPS - 1) swaState = snapshot(net.stateDict())
      swa.afterEpoch(learn)
    }
    assertState(swaState, reply.swa, 'SWA')
    for (const [ema, expected, what] of [
      [warm, reply.emaWarmup, 'EMA with warm-up'],
      [constant, reply.emaConstant, 'EMA, constant decay'],
    ] as const) {
      ema.beforeValidate(learn)
      assertState(net.stateDict(), expected, what)
      // The averaged weights are validated with the raw model's batch-norm statistics.
      const buffers = new Map([...net.namedBuffers()])
      assertState(
        buffers,
        Object.fromEntries(Object.entries(reply.raw).filter(([k]) => buffers.has(k))),
        `${what}: buffer`,
      )
      ema.afterEpoch(learn)
    }
    assertState(net.stateDict(), reply.raw, 'raw after the swaps')
    for (const cb of [warm, constant, swa]) cb.dispose()
    optimizer.dispose()
    net.dispose()
  })
})
