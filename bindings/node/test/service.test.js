'use strict'
// The HTTP service example: submit a run over HTTP and read its events as Server-Sent Events.
const test = require('node:test')
const assert = require('node:assert/strict')

const { serve } = require('../examples/service.js')

test('the service example submits a run and streams it to the end', async () => {
  const { server, runner, url } = await serve()
  try {
    const created = await fetch(`${url}/runs`, {
      method: 'POST',
      body: JSON.stringify({ model_id: 'simulator', inputs: { trials: 1000, region: 'EU', year: 2025 } }),
    })
    assert.equal(created.status, 201)
    const { run_id: runId } = await created.json()
    const stream = await fetch(`${url}/runs/${runId}/events`)
    assert.equal(stream.headers.get('content-type'), 'text/event-stream')
    const text = await stream.text() // the server ends the stream after the final state
    const events = text
      .trim()
      .split('\n\n')
      .map((block) => JSON.parse(block.split('\n').find((l) => l.startsWith('data: ')).slice(6)))
    assert.equal(events[0].status, 'queued')
    assert.equal(events.at(-1).status, 'succeeded')
    assert.ok(events.some((e) => e.type === 'progress' && e.progress === 100))

    const bad = await fetch(`${url}/runs`, { method: 'POST', body: JSON.stringify({ model_id: 'simulator', inputs: { trials: 'x' } }) })
    assert.equal(bad.status, 422)
    assert.equal((await bad.json()).field, 'inputs.trials')
    assert.equal((await fetch(`${url}/runs/run_nope/events`)).status, 404)
  } finally {
    server.close()
    await runner.close()
  }
})
