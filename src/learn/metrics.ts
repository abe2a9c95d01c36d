/**
 * The metrics the training loop reports: ROC AUC (exact, ties counted half, as the Mann-Whitney
 * statistic) and accuracy at a threshold.
 * @module
 */
import { DataError } from '../errors.js'

/** Area under the ROC curve of scores against binary labels; ties between classes count 1/2. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (scores[a] as number) - (scores[b] as number),
  )
  let positives = 0
  let rankSum = 0
  for (let i = 0; i < n;) {
    let j = i
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++
    const averageRank = (i + j) / 2 + 1 // ranks are 1-based; tied scores share the mean rank
    for (let k = i; k <= j; k++) {
      if (labels[order[k]!] === 1) {
        positives++
        rankSum += averageRank
      }
    }
    i = j + 1
  }
  const negatives = n - positives
  if (positives === 0 || negatives === 0) {
    throw new DataError(
      `ROC AUC is undefined: the labels hold only ${positives === 0 ? 'negatives' : 'positives'}`,
    )
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives)
}

export function accuracy(
  probabilities: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold = 0.5,
): number {
  let correct = 0
  for (let i = 0; i < probabilities.length; i++) {
    if (((probabilities[i] as number) >= threshold ? 1 : 0) === labels[i]) correct++
  }
  return correct / probabilities.length
}
