/**
 * pcam as an npm package, as a user gets it: `npm pack`, then a fresh project installs the
 * tarball (which builds the native addon), type-checks short TypeScript programs against the
 * public API with the settings `tsc --init` writes, and runs them: one training step on a small
 * store and a prediction of one patch, then the README's library example on a slide.
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

const PROGRAM = `import { openPredictor, PatchStore, train, trainConfig } from 'pcam'
import { Linear } from 'pcam/nn'
import { tensor } from 'pcam/torch'

const [store, out] = process.argv.slice(2) as [string, string]
// 16 training patches in batches of 16: one optimizer step. The store records no µm/px: PCam's is
// given, so that the run can predict slides.
const result = await train(
  trainConfig({ store, out, epochs: 1, freezeEpochs: 0, batchSize: 16, augment: null, mpp: 0.972 }),
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
console.log(JSON.stringify({ epochs: result.history.length, probability: [...probability], parameters }))
`

const README_MARKER = '<!-- tested by test/package/npm-package.test.ts -->'

/**
 * The README's library example, with its run, slide and output folder replaced by this test's:
 * the lines a user copies are the lines that are type-checked and run.
 */
function readmeProgram(paths: { run: string; slide: string; maps: string }): string {
  const readme = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8')
  const after = readme.split(README_MARKER)[1]
  assert.ok(after, 'README.md has the marked library example')
  let program = /```ts\n([\s\S]*?)```/.exec(after)![1]!
  for (const [literal, path] of [
    ["'runs/mobilenet_v1'", paths.run],
    ["'slides/tumor_001.tif'", paths.slide],
    ["'maps'", paths.maps],
  ] as const) {
    assert.equal(program.split(literal).length, 2, `the README example names ${literal} once`)
    program = program.replace(literal, JSON.stringify(path))
  }
  return program
}

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
    const slide = join(root, 'slide.tif')
    const paths = { run: join(root, 'run'), slide, maps: join(root, 'maps') }
    writeFileSync(join(project, 'readme.ts'), readmeProgram(paths))
    run(process.execPath, [TSC, '-p', '.'], project)
    const store = await makeSyntheticStore(join(root, 'data'), { train: 16, valid: 8 })
    // Glass (white) around a block of pink tissue, which the tissue mask finds.
    const tissue = await sharp({
      create: { width: 288, height: 192, channels: 3, background: '#c06090' },
    })
      .png()
      .toBuffer()
    await sharp({ create: { width: 384, height: 256, channels: 3, background: '#f4f4f4' } })
      .composite([{ input: tissue, left: 48, top: 32 }])
      .tiff({
        tile: true,
        pyramid: true,
        xres: 1000 / 0.972,
        yres: 1000 / 0.972,
        resolutionUnit: 'cm',
      })
      .toFile(slide)
    const output = run(process.execPath, ['main.js', store, paths.run], project)
    const result = JSON.parse(output.trim().split('\n').at(-1)!) as {
      epochs: number
      probability: number[]
      parameters: number
    }
    assert.equal(result.epochs, 1)
    assert.equal(result.parameters, 2)
    assert.equal(result.probability.length, 1)
    const p = result.probability[0]!
    assert.ok(p > 0 && p < 1, `probability ${p}`)
    // The README's example: score, tumour area and detections of the slide, as it prints them.
    const printed = run(process.execPath, ['readme.js'], project).trim().split('\n').at(-1)!
    const [score, area, detections] = printed.split(' ').map(Number) as [number, number, number]
    assert.ok(score >= 0 && score <= 1, `slide score ${printed}`)
    assert.ok(area >= 0 && Number.isInteger(detections), printed)
    assert.ok(
      readFileSync(join(paths.maps, 'slide', 'detections.csv'), 'utf8').startsWith(
        'x,y,probability',
      ),
    )
  })
})
