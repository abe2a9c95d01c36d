// The CSV files pcam writes (predict's plain and Kaggle formats, eval's predictions.csv) quote ids
// holding commas, quotes or line breaks, so every row reads back with its header's columns.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parse } from 'csv-parse/sync'
import { predictionsCsv, savedPredictions } from '../../src/eval/artifacts.js'
import { kaggleCsv, plainCsv } from '../../src/eval/predict-files.js'
import { tempDir } from '../helpers/temp-dir.js'

const ids = ['plain', 'with,comma', 'with "quotes"', 'with\nnewline', '"', ',,']
const predictions = ids.map((id, i) => ({ id, probability: (i + 0.5) / ids.length }))

describe('CSV outputs round-trip', () => {
  it('predict --format plain: four fields per row, ids intact', () => {
    const [header, ...rows] = parse(plainCsv(predictions, 0.5)) as string[][]
    assert.deepEqual(header, ['id', 'probability', 'predicted', 'threshold'])
    assert.deepEqual(
      rows,
      predictions.map((p) => [
        p.id,
        String(p.probability),
        p.probability >= 0.5 ? '1' : '0',
        '0.5',
      ]),
    )
  })

  it('predict --format kaggle: two fields per row, ids intact', () => {
    const [header, ...rows] = parse(kaggleCsv(predictions)) as string[][]
    assert.deepEqual(header, ['id', 'label'])
    assert.deepEqual(
      rows,
      predictions.map((p) => [p.id, String(p.probability)]),
    )
  })

  it("eval's predictions.csv reads back to the same labels and probabilities", () => {
    const dir = tempDir('predictions')
    const labels = ids.map((_, i) => i % 2)
    const probabilities = predictions.map((p) => p.probability)
    const text = predictionsCsv(ids, labels, probabilities)
    assert.deepEqual(
      (parse(text) as string[][]).slice(1).map((r) => r[0]),
      ids,
    )
    writeFileSync(join(dir, 'predictions.csv'), text)
    assert.deepEqual(savedPredictions(dir), { labels, probabilities })
  })
})
