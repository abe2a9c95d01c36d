/**
 * Per-channel mean and standard deviation of stored patches, computed in libtorch over the
 * memory-mapped images in chunks (no per-pixel JavaScript).
 * @module
 */
import { noGrad, scope, tensor, type Tensor } from '../torch/index.js'

const CHUNK = 2048
/** Statistics settle long before this many patches; larger stores use an evenly spread sample. */
const MAX_PATCHES = 10_000

/** Mean and std per channel on the 0..1 scale over the patches at `indices` of images (N x H x W x 3). */
export function channelStats(
  images: Tensor,
  indices: number[],
): { mean: [number, number, number]; std: [number, number, number] } {
  const sums = [0, 0, 0]
  const squares = [0, 0, 0]
  let pixels = 0
  const step = Math.max(1, indices.length / MAX_PATCHES)
  const sample =
    indices.length <= MAX_PATCHES
      ? indices
      : Array.from({ length: MAX_PATCHES }, (_, i) => indices[Math.floor(i * step)] as number)
  noGrad(() => {
    for (let start = 0; start < sample.length; start += CHUNK) {
      scope(() => {
        const idx = tensor(new BigInt64Array(sample.slice(start, start + CHUNK).map(BigInt)))
        // float32 sums per chunk are exact enough (pairwise summation); chunks add up in doubles.
        const batch = images.indexSelect(0, idx).float()
        const s = batch.sum([0, 1, 2]).toArray()
        const q = batch.square().sum([0, 1, 2]).toArray()
        for (let c = 0; c < 3; c++) {
          sums[c]! += s[c] as number
          squares[c]! += q[c] as number
        }
        pixels += batch.numel / 3
      })
    }
  })
  const mean = sums.map((s) => (pixels ? s / pixels / 255 : 0)) as [number, number, number]
  const variance = squares.map((q, c) => (pixels ? q / pixels / 255 ** 2 - mean[c]! ** 2 : 0))
  const std = variance.map((v) => Math.sqrt(Math.max(v, 0))) as [number, number, number]
  return { mean, std }
}
