/** Benchmark child: one tracker, started through the CLI entry point. */
import { runTrackerCommand } from '../../tracker/cli.ts'

await runTrackerCommand(process.argv.slice(2))
