'use strict'
// Real training through the Node package: the event loop stays responsive while a run is awaited,
// and the trained run predicts real digits.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const { Runner } = require('modelrunner')
const { DIGITS, MLP } = require('./helpers.js')

/** Ten real digits (the sixth sample of each class) and their labels. */
function digits() {
  const images = []
  for (let d = 0; d < 10; d++) {
    const data = JSON.parse(fs.readFileSync(path.join(DIGITS, `${d}.json`), 'utf8')).data
    images.push(data.slice(784 * 5, 784 * 6))
  }
  return { images, labels: images.map((_, d) => String(d)) }
}

test('the event loop keeps ticking while a training run is awaited, and the run predicts', async () => {
  const runner = new Runner({ workers: 1 })
  const run = await runner.train({
    architecture: MLP,
    hyperparams: { epochs: 2, batch_size: 32, optimizer: 'adam', seed: 1, max_samples: 2000 },
    threads: 2,
  })
  const ticks = []
  const timer = setInterval(() => ticks.push(performance.now()), 10)
  const started = performance.now()
  const done = await run.wait({ timeoutMs: 300_000 })
  const elapsed = performance.now() - started
  clearInterval(timer)
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error))
  // A blocked main thread would leave a gap as long as the training; a free one ticks every ~10 ms.
  const gaps = ticks.slice(1).map((t, i) => t - ticks[i])
  assert.ok(ticks.length >= (0.5 * elapsed) / 10, `${ticks.length} ticks in ${elapsed.toFixed(0)} ms`)
  assert.ok(Math.max(...gaps) < 250, `longest gap between ticks: ${Math.max(...gaps).toFixed(0)} ms`)

  const losses = await run.metrics('loss')
  assert.ok(losses.length > 10, 'a loss per step')
  assert.ok(done.metrics.test_accuracy > 0.7, JSON.stringify(done.metrics))
  const { images, labels } = digits()
  const answers = await run.predict(images)
  const right = answers.filter((a, i) => a.prediction === labels[i]).length
  assert.ok(right >= 6, `${right} of 10 digits`)
  assert.ok(Math.abs(answers[0].probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4)
  const same = await runner.predict(run.id, images[0])
  assert.equal(same[0].prediction, answers[0].prediction)
  await runner.close()
})

test('a classifier trains on an uploaded table and predicts', async () => {
  const runner = new Runner()
  const { TABLES } = require('./helpers.js')
  const iris = await runner.uploadDataset(path.join(TABLES, 'iris.csv'))
  const run = await runner.submitTask('classic_train', {
    datasetId: iris.id,
    inputs: { model_type: 'random_forest' },
    hyperparams: { n_estimators: 50, random_state: 1 },
  })
  const done = await run.wait({ timeoutMs: 120_000 })
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error))
  assert.ok(done.metrics.accuracy >= 0.9)
  assert.equal((await run.predict('5.1,3.5,1.4,0.2'))[0].prediction, 'setosa')
  await runner.close()
})
