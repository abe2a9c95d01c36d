/**
 * The device `make test-gpu` runs test/gpu on: PCAM_DEVICE (default cuda), resolved on this
 * machine, and why a suite skips here, so that `make test` stays green without a GPU.
 * @module
 */
import { checkDeviceRequest, resolveDevice, type ComputePlan } from '../../src/learn/precision.js'

export interface DeviceUnderTest {
  /** PCAM_DEVICE as given (default cuda). */
  request: string
  /** What it resolves to here; 'cpu' where it cannot resolve. */
  device: ComputePlan['device']
  /** Why the suite skips here, or false. */
  skip: string | false
}

/**
 * The device under test. A suite that only means something on a GPU passes `cpuReason`, which
 * becomes its skip message on the CPU (PCAM_DEVICE=cpu); without it the suite runs on the CPU too.
 */
export function deviceUnderTest(cpuReason?: string): DeviceUnderTest {
  const request = process.env.PCAM_DEVICE ?? 'cuda'
  try {
    const device = resolveDevice(checkDeviceRequest(request))
    return { request, device, skip: device === 'cpu' && cpuReason ? cpuReason : false }
  } catch (error) {
    const why = (error as Error).message.split('\n')[0]
    return {
      request,
      device: 'cpu',
      skip: `no ${request} here (${why}); make test-gpu runs these on a GPU`,
    }
  }
}
