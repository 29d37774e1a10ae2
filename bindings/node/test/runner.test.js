'use strict'
// Every Runner and Run method against the real core, with their documented errors: classes, `code`
// and `field`.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const mr = require('modelrunner')
const { Runner, NotFoundError, ValidationError, NotReadyError, TimeoutError, ModelRunnerError } = mr
const { TABLES } = require('./helpers.js')

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelrunner-node-'))
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }))

/** Asserts `promise` rejects with an instance of `cls` carrying `code` and `field`. */
async function rejects(promise, cls, code, field) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof cls, `${e && e.constructor && e.constructor.name}: ${e && e.message}`)
    assert.ok(e instanceof ModelRunnerError && e instanceof Error)
    assert.equal(e.name, cls.name)
    assert.equal(e.code, code)
    assert.equal(e.field, field)
    assert.ok(e.message.length > 0 && typeof e.stack === 'string')
    return true
  })
}

test('the catalog runs and returns 000s results', async () => {
  const runner = new Runner({ workers: 2 })
  const ids = (await runner.installCatalog()).map((m) => m.id)
  assert.deepEqual(ids, ['linear_reg', 'xgb_forecast', 'simulator'])
  assert.deepEqual((await runner.installCatalog()).map((m) => m.id), ids, 'idempotent')
  assert.equal((await runner.models()).length, 3)
  const run = await runner.submit('linear_reg', { region: 'EU', year: 2025 })
  assert.equal(run.record.status, 'queued')
  assert.equal(run.record.modelId, 'linear_reg')
  const done = await run.wait({ timeoutMs: 60_000 })
  assert.equal(done.status, 'succeeded')
  assert.equal(done.progress, 100)
  assert.equal(run.record.status, 'succeeded', 'the handle keeps the refreshed record')
  assert.equal(await run.status(), 'succeeded')
  const results = await run.results()
  assert.equal(results.summary.rows, 36)
  assert.deepEqual(new Set(results.rows.map((r) => r.kpi)), new Set(['revenue', 'cost', 'margin']))
  assert.equal((await runner.run(run.id)).id, run.id)
  assert.deepEqual((await runner.runs({ modelId: 'linear_reg' })).map((r) => r.id), [run.id])
  assert.deepEqual((await runner.runs({ status: 'failed' })).map((r) => r.id), [])
  assert.ok((await run.logs()).length >= 1)
  await rejects(runner.submit('no_such_model', {}), NotFoundError, 'NOT_FOUND', null)
  await rejects(runner.submit('simulator', { trials: 'many' }), ValidationError, 'VALIDATION', 'inputs.trials')
  await rejects(runner.run('run_nope'), NotFoundError, 'NOT_FOUND', null)
  await rejects(runner.runs({ status: 'bogus' }), ValidationError, 'VALIDATION', 'status')
  await rejects(runner.runs({ limit: 0 }), ValidationError, 'VALIDATION', 'limit')
  await runner.close()
})

test('any registered task runs through submitTask, with its errors', async () => {
  const runner = new Runner()
  assert.ok(runner.tasks().includes('neural_train'))
  const run = await runner.submitTask('simulator', { kind: 'simulate', inputs: { trials: 200, region: 'NA' } })
  assert.equal((await run.wait()).status, 'succeeded')
  await rejects(
    runner.submitTask('classic_train', { inputs: { model_type: 'xgboost', data_path: 'x.csv' } }),
    ValidationError,
    'VALIDATION',
    'inputs.model_type',
  )
  await rejects(runner.submitTask('no_such_task'), ValidationError, 'VALIDATION', 'task')
  await rejects(runner.submitTask('simulator', { kind: 'dance' }), ValidationError, 'VALIDATION', 'kind')
  await runner.close()
})

test('results before the end are not ready, a wait can time out, and a queued run cancels', async () => {
  const runner = new Runner({ workers: 0 }) // nothing executes: the run stays queued
  await runner.installCatalog()
  const run = await runner.submit('simulator', { trials: 100 })
  await rejects(run.wait({ timeoutMs: 50 }), TimeoutError, 'TIMEOUT', null)
  await rejects(run.results(), NotReadyError, 'NOT_READY', null)
  await rejects(run.wait({ timeoutMs: -1 }), ValidationError, 'VALIDATION', 'timeoutMs')
  assert.equal((await run.cancel()).status, 'cancelled')
  assert.equal((await run.wait({ timeoutMs: 1000 })).status, 'cancelled')
  await runner.close()
})

test('events come as an async iterator and as callbacks, history first, ending after the final state', async () => {
  const runner = new Runner()
  await runner.installCatalog()
  const run = await runner.submit('simulator', { trials: 1000, region: 'EU', year: 2025 })
  const seen = []
  for await (const event of run.events()) seen.push(event)
  assert.equal(seen[0].type, 'state')
  assert.equal(seen[0].status, 'queued')
  assert.equal(seen.at(-1).type, 'state')
  assert.equal(seen.at(-1).status, 'succeeded')
  assert.ok(seen.every((e) => e.runId === run.id))
  const ids = seen.map((e) => e.id)
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'in commit order')
  const progress = seen.filter((e) => e.type === 'progress').map((e) => e.progress)
  assert.equal(progress.at(-1), 100)
  const metrics = await run.metrics()
  assert.equal(metrics.length, seen.filter((e) => e.type === 'metric').length)
  assert.ok(metrics.every((m) => typeof m.name === 'string' && typeof m.value === 'number'))

  const again = []
  await run.onEvent((event) => {
    again.push(event.id)
  })
  assert.deepEqual(again, ids, 'a finished run replays its whole history')
  await assert.rejects(run.onEvent(() => {
    throw new Error('stop here')
  }), /stop here/)
  await rejects(run.onEvent('not a function'), ValidationError, 'VALIDATION', 'callback')

  // Leaving a loop early closes the stream (no thread left waiting on a run that never ends).
  const idle = new Runner({ workers: 0 })
  await idle.installCatalog()
  const queued = await idle.submit('simulator', { trials: 100 })
  const stream = queued.events()
  for await (const event of stream) {
    assert.equal(event.status, 'queued')
    break
  }
  assert.equal(await stream.next(), null)
  await idle.close()
  await runner.close()
})

test('a registry entry is registered, listed, read and validated', async () => {
  const runner = new Runner()
  const model = await runner.registerModel({ name: 'demand', modelFamily: 'pricing', description: 'a pricing model' })
  assert.equal(model.status, 'draft')
  assert.equal((await runner.model(model.id)).name, 'demand')
  assert.deepEqual((await runner.models({ modelFamily: 'pricing' })).map((m) => m.id), [model.id])
  await rejects(runner.registerModel({ name: 'x', modelFamily: 'astrology' }), ValidationError, 'VALIDATION', 'modelFamily')
  await rejects(runner.registerModel({ name: '' }), ValidationError, 'VALIDATION', 'name')
  await rejects(runner.model('nope'), NotFoundError, 'NOT_FOUND', null)
  await rejects(runner.promoteRun(model.id, 'run_nope'), ValidationError, 'VALIDATION', 'runId')
  const updated = await runner.setAlertRules(model.id, [{ metric: 'drift.max_psi', op: 'gt', threshold: 0.2 }])
  assert.deepEqual(updated.alertRules.map((r) => r.metric), ['drift.max_psi'])
  await rejects(
    runner.setAlertRules(model.id, [{ metric: 'psi', op: 'gt', threshold: 0.2 }]),
    ValidationError,
    'VALIDATION',
    'alertRules[0].metric',
  )
  await runner.close()
})

test('datasets upload, list, drift, monitor and delete; bad content is refused', async () => {
  const runner = new Runner({ dataDir: path.join(tmp, 'data') })
  const iris = await runner.uploadDataset(path.join(TABLES, 'iris.csv'))
  assert.equal(iris.rowCount, 150)
  assert.equal(iris.fileType, 'csv')
  assert.equal(iris.name, 'iris.csv')
  assert.ok(iris.columns.includes('petal_length'))
  const head = fs.readFileSync(path.join(TABLES, 'iris.csv'), 'utf8').split('\n').slice(0, 60).join('\n')
  const wine = await runner.uploadDatasetContent('head.csv', Buffer.from(head), { name: 'iris head' })
  assert.equal(wine.name, 'iris head')
  assert.deepEqual((await runner.datasets()).map((d) => d.id).sort(), [iris.id, wine.id].sort())
  assert.equal((await runner.dataset(iris.id)).id, iris.id)
  const drift = await runner.drift(iris.id, wine.id)
  assert.ok(drift.features.length === 4 && drift.maxPsi > 0)

  const model = await runner.registerModel({ name: 'iris monitor', modelFamily: 'pricing' })
  const snapshot = await runner.monitor(model.id, { referenceDatasetId: iris.id, currentDatasetId: wine.id })
  assert.equal(snapshot.modelId, model.id)
  assert.ok(snapshot.driftMetrics.max_psi > 0)
  const measured = await runner.recordSnapshot(model.id, { performanceMetrics: { accuracy: 0.93 } })
  assert.deepEqual((await runner.snapshots(model.id)).map((s) => s.id).sort(), [snapshot.id, measured.id].sort())
  await rejects(runner.monitor(model.id, {}), ValidationError, 'VALIDATION', 'referenceDatasetId')

  await rejects(runner.uploadDatasetContent('bad.json', Buffer.from('[{"a": 1}, {oops'), {}), ValidationError, 'VALIDATION', 'file')
  await rejects(runner.uploadDataset(path.join(tmp, 'missing.csv')), ValidationError, 'VALIDATION', 'path')
  await runner.deleteDataset(wine.id)
  await rejects(runner.dataset(wine.id), NotFoundError, 'NOT_FOUND', null)
  await runner.close()
})

test('recipes get immutable versions with diffs', async () => {
  const runner = new Runner()
  const recipe = await runner.createRecipe({
    name: 'demand base',
    modelFamily: 'pricing',
    level: 'baseline',
    manifest: { model: { alpha: 1.0 } },
  })
  assert.equal((await runner.recipe(recipe.id)).name, 'demand base')
  const v2 = await runner.createRecipeVersion(recipe.id, { manifest: { model: { alpha: 0.5 } }, changeNote: 'less shrinkage' })
  assert.equal(v2.versionNumber, '1.1.0')
  assert.ok(v2.diffSummary.some((line) => line.includes('alpha')))
  const versions = await runner.recipeVersions(recipe.id)
  assert.deepEqual(versions.map((v) => v.versionNumber).sort(), ['1.0.0', '1.1.0'])
  assert.ok((await runner.recipes({ modelFamily: 'pricing' })).some((r) => r.id === recipe.id))
  await rejects(runner.createRecipe({ name: 'x', modelFamily: 'pricing', level: 'top' }), ValidationError, 'VALIDATION', 'level')
  await rejects(runner.createRecipeVersion(recipe.id, { manifest: { model: 1 }, bump: 'huge' }), ValidationError, 'VALIDATION', 'bump')
  await rejects(runner.recipe('nope'), NotFoundError, 'NOT_FOUND', null)
  await runner.close()
})

test('the assistant answers from the registry', async () => {
  const runner = new Runner()
  const model = await runner.registerModel({ name: 'demand', modelFamily: 'pricing' })
  const answer = await runner.chat('Which pricing models are in production?')
  assert.ok(answer.answer.length > 0)
  assert.equal(typeof answer.intent, 'string')
  const about = await runner.chat(`What should I do next with model ${model.id}?`)
  assert.ok(about.entities.some((e) => e.id === model.id), JSON.stringify(about))
  await runner.close()
})

test('a stored runner keeps its runs across opens', async () => {
  const file = path.join(tmp, 'runs.db')
  const first = new Runner({ path: file, workers: 1 })
  assert.throws(() => new Runner({ path: file }), (e) => e instanceof mr.ConflictError && e.code === 'CONFLICT')
  await first.installCatalog()
  const run = await first.submit('simulator', { trials: 100 })
  await run.wait()
  await first.close()
  const second = new Runner({ path: file, device: 'cpu' })
  assert.equal((await second.run(run.id)).record.status, 'succeeded')
  assert.deepEqual((await second.runs()).map((r) => r.id), [run.id])
  await second.close()
  // A database under a plain file cannot be created.
  assert.throws(() => new Runner({ path: path.join(file, 'x.db') }), (e) => e instanceof mr.StorageError && e.code === 'IO')
})

test('many concurrent submits are each stored once and all run', async () => {
  const runner = new Runner({ workers: 2 })
  const runs = await Promise.all(Array.from({ length: 80 }, (_, i) => runner.submitTask('simulator', { kind: 'simulate', inputs: { trials: 100, seed: i } })))
  assert.equal(new Set(runs.map((r) => r.id)).size, 80)
  const done = await Promise.all(runs.map((r) => r.wait({ timeoutMs: 120_000 })))
  assert.ok(done.every((r) => r.status === 'succeeded'))
  await runner.close()
})
