// Every op the layers use, on the GPU against PyTorch on the same GPU (the CPU's parity test,
// test/parity/ops.test.ts, on another device). `make test-gpu` runs it; it skips without one.
import { describeOpParity } from '../parity/op-parity.js'
import { deviceUnderTest } from '../helpers/device-under-test.js'

// On the CPU this is test/parity/ops.test.ts itself.
const { device, skip } = deviceUnderTest('PCAM_DEVICE=cpu: test/parity/ops.test.ts is this run')

describeOpParity(device === 'cpu' ? 'cuda:0' : device, { atol: 1e-3, rtol: 1e-2 }, skip)
