// Every op the layers use, on the GPU against PyTorch on the same GPU (the CPU's parity test,
// test/parity/ops.test.ts, on another device). `make test-gpu` runs it; it skips without one.
import { checkDeviceRequest, resolveDevice } from '../../src/learn/precision.js'
import { describeOpParity } from '../parity/op-parity.js'

const REQUEST = process.env.PCAM_DEVICE ?? 'cuda'
let device: ReturnType<typeof resolveDevice> = 'cpu'
let skip: string | false = false
try {
  device = resolveDevice(checkDeviceRequest(REQUEST))
  // On the CPU this is test/parity/ops.test.ts itself.
  if (device === 'cpu') skip = 'PCAM_DEVICE=cpu: test/parity/ops.test.ts is this run'
} catch (error) {
  skip = `no ${REQUEST} here (${(error as Error).message.split('\n')[0]}); make test-gpu runs these on a GPU`
}

describeOpParity(device === 'cpu' ? 'cuda:0' : device, { atol: 1e-3, rtol: 1e-2 }, skip)
