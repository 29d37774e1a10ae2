// The ES module entry gives the same classes as the CommonJS one.
import test from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

import modelrunner, { Runner, NotFoundError, ModelRunnerError } from 'modelrunner'

test('import and require give the same package', async () => {
  const cjs = createRequire(import.meta.url)('modelrunner')
  assert.equal(Runner, cjs.Runner)
  assert.equal(NotFoundError, cjs.NotFoundError)
  assert.equal(modelrunner.Runner, Runner)
  const runner = new Runner()
  await assert.rejects(runner.model('nope'), (e) => e instanceof NotFoundError && e instanceof ModelRunnerError)
  await runner.close()
})
