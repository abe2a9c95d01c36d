/**
 * pcam as an npm package, as a user gets it: `npm pack`, then a fresh project installs the
 * tarball (which builds the native addon), type-checks a short TypeScript program against the
 * public API with the settings `tsc --init` writes, and runs it: one training step on a small
 * store and a prediction of one patch.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import sharp from 'sharp'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { makeSyntheticStore } from '../helpers/synthetic-store.js'

const TSC = join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

const PROGRAM = `import { loadSlideModel, openPredictor, PatchStore, predictSlide, train, trainConfig } from 'pcam'
import { Linear } from 'pcam/nn'
import { tensor } from 'pcam/torch'

const [store, out, slide, maps] = process.argv.slice(2) as [string, string, string, string]
// 16 training patches in batches of 16: one optimizer step.
const result = await train(
  trainConfig({ store, out, epochs: 1, freezeEpochs: 0, batchSize: 16, augment: null }),
)
const predictor = await openPredictor(result.out, 'libtorch')
const index = tensor([0], { dtype: 'int64' })
const { images, labels } = PatchStore.open(store).gather(index)
const probability = await predictor.predict(images)
for (const t of [index, images, labels]) t.dispose()
predictor.dispose()
const layer = new Linear(4, 2)
const parameters = [...layer.parameters()].length
layer.dispose()
// A whole slide, as pcam slide predict does it (the run records no µm/px: PCam's is given).
const slideModel = await loadSlideModel(result.out, { modelMpp: 0.972 })
const summary = await predictSlide(slide, slideModel, { out: maps, tissueMask: false })
slideModel.dispose()
console.log(
  JSON.stringify({ epochs: result.history.length, probability: [...probability], parameters, tiles: summary.tiles }),
)
`

function run(command: string, args: string[], cwd: string): string {
  const done = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
    maxBuffer: 64 << 20,
  })
  assert.equal(
    done.status,
    0,
    `${command} ${args.join(' ')} failed:\n${done.stdout.slice(-4000)}\n${done.stderr.slice(-4000)}`,
  )
  return done.stdout
}

describe('the npm package', { timeout: 20 * 60_000 }, () => {
  let root: string
  let tarball: string
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'pcam-package-'))
    const packed = JSON.parse(
      run('npm', ['pack', '--json', '--pack-destination', root], PACKAGE_ROOT),
    ) as { filename: string; files: { path: string }[] }[]
    tarball = join(root, packed[0]!.filename)
  })
  after(() => rmSync(root, { recursive: true, force: true }))

  it('holds the library, its types and the addon sources, and no tests', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n')
    for (const needed of [
      'package/dist/src/index.js',
      'package/dist/src/index.d.ts',
      'package/dist/src/torch/index.d.ts',
      'package/dist/src/nn/index.d.ts',
      'package/native/binding.gyp',
      'package/native/install.mjs',
      'package/bin/pcam.js',
    ])
      assert.ok(files.includes(needed), needed)
    assert.deepEqual(
      files.filter((f) => /\.test\.|^package\/(test|dist\/test)\//.test(f)),
      [],
    )
    const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8'))
    const runtime = Object.keys(manifest.dependencies as Record<string, string>)
    for (const testOnly of ['playwright-core', '@tensorflow/tfjs-core', 'typescript', 'eslint'])
      assert.ok(!runtime.includes(testOnly), `${testOnly} is a runtime dependency`)
  })

  it('installs into a fresh project, type-checks with tsc --init settings, trains and predicts', async () => {
    const project = join(root, 'consumer')
    mkdirSync(project)
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    )
    // The addon is built here by the package's install script, as on a user's machine.
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], project)
    run(process.execPath, [TSC, '--init'], project)
    writeFileSync(join(project, 'main.ts'), PROGRAM)
    run(process.execPath, [TSC, '-p', '.'], project)
    const store = await makeSyntheticStore(join(root, 'data'), { train: 16, valid: 8 })
    const slide = join(root, 'slide.tif')
    await sharp({ create: { width: 384, height: 256, channels: 3, background: '#c06090' } })
      .tiff({
        tile: true,
        pyramid: true,
        xres: 1000 / 0.972,
        yres: 1000 / 0.972,
        resolutionUnit: 'cm',
      })
      .toFile(slide)
    const output = run(
      process.execPath,
      ['main.js', store, join(root, 'run'), slide, join(root, 'maps')],
      project,
    )
    const result = JSON.parse(output.trim().split('\n').at(-1)!) as {
      epochs: number
      probability: number[]
      parameters: number
      tiles: number
    }
    assert.equal(result.epochs, 1)
    assert.equal(result.parameters, 2)
    assert.equal(result.probability.length, 1)
    const p = result.probability[0]!
    assert.ok(p > 0 && p < 1, `probability ${p}`)
    assert.ok(result.tiles > 0, 'the slide was cut into tiles and predicted')
    assert.ok(
      readFileSync(join(root, 'maps', 'slide', 'detections.csv'), 'utf8').startsWith(
        'x,y,probability',
      ),
    )
  })
})
