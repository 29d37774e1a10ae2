// Compiled (not run) by `npm run typecheck` (tsc --strict): the generated index.d.ts describes the
// package as a TypeScript caller uses it.
import {
  Runner,
  Run,
  RunRecord,
  RunEvent,
  RunStatus,
  Model,
  ModelRunnerError,
  NotFoundError,
  ValidationError,
  ErrorCode,
} from 'modelrunner'

async function tour(): Promise<void> {
  const runner = new Runner({ path: 'runs.db', workers: 2, device: 'cpu' })
  const catalog: Model[] = await runner.installCatalog()
  const run: Run = await runner.submit('simulator', { trials: 100 })
  const status: RunStatus = await run.status()
  const record: RunRecord = await run.wait({ timeoutMs: 1000 })
  const progress: number = record.progress
  for await (const event of run.events()) {
    const e: RunEvent = event
    if (e.type === 'metric') console.log(e.name, e.value)
  }
  await run.onEvent((e: RunEvent) => console.log(e.type))
  const rows: unknown[] = (await run.results()).rows
  const trained = await runner.train({ architecture: { layers: [] }, hyperparams: { epochs: 1 }, threads: 2 })
  const predictions = await trained.predict([0, 1, 2], { timeoutMs: 5000 })
  const runs: Run[] = await runner.runs({ status: 'succeeded', limit: 10, offset: 0 })
  try {
    await runner.model('nope')
  } catch (e) {
    if (e instanceof NotFoundError || e instanceof ValidationError) {
      const code: ErrorCode = e.code
      const field: string | null = e.field
      console.log(code, field)
    }
    if (e instanceof ModelRunnerError) console.log(e.message)
  }
  console.log(catalog, status, progress, rows, predictions, runs)
  await runner.close(5000)
}

void tour
