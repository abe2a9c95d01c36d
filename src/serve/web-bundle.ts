/**
 * `pcam export --format web`: a static folder that predicts inside the browser with no pcam
 * process at all: the page (PAGE_FILES), model.json (what the page's model card shows),
 * model.onnx and onnxruntime-web's files under ort/. Any static file server serves it.
 * @module
 */
import { existsSync, readdirSync } from 'node:fs'
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError } from '../errors.js'
import { modelCard } from '../eval/model-card.js'
import { ORT_WEB_FILES, ortWebDir } from '../export/ort-web.js'
import { ensureRunOnnx } from '../export/export.js'
import { readRunConfig } from '../run/run-folder.js'
import { PAGE_FILES, readPageFile } from './page-files.js'

const MARKER = 'pcam-web-export.json'

export async function exportWeb(
  run: string,
  out: string,
  options: { overwrite?: boolean } = {},
): Promise<string[]> {
  // The page first: an unbuilt page is refused before anything is deleted or exported.
  const page = PAGE_FILES.map((file) => {
    const body = readPageFile(file)
    // Relative addresses, so the folder works at any path of any static server.
    if (file.name !== 'index.html') return { name: file.name, body }
    const html = body.toString('utf8').replace(/(href|src)="\/(style\.css|app\.js)"/g, '$1="$2"')
    return { name: file.name, body: Buffer.from(html) }
  })
  if (existsSync(out) && readdirSync(out).length > 0) {
    if (!options.overwrite || !existsSync(join(out, MARKER)))
      throw new ConfigError(
        `${out} exists and is not empty; give an empty or new folder (--overwrite replaces a folder pcam exported).`,
      )
    await rm(out, { recursive: true })
  }
  await mkdir(join(out, 'ort'), { recursive: true })
  // The run's own model.onnx: exported only when it is missing or older than the weights.
  await copyFile(ensureRunOnnx(run), join(out, 'model.onnx'))
  const card = { ...modelCard(run, readRunConfig(run), false), static: true }
  await writeFile(join(out, 'model.json'), `${JSON.stringify(card, null, 2)}\n`)
  const written = ['model.onnx', 'model.json']
  for (const { name, body } of page) {
    await writeFile(join(out, name), body)
    written.push(name)
  }
  const ort = ortWebDir()
  for (const name of Object.keys(ORT_WEB_FILES)) {
    await copyFile(join(ort, name), join(out, 'ort', name))
    written.push(join('ort', name))
  }
  await writeFile(join(out, MARKER), `${JSON.stringify({ run, format: 'web' })}\n`)
  return [...written, MARKER]
}
