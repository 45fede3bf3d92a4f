import { formatTable, parseArgs, saveResults } from '../lib/table.ts';
import { runRecordingBench } from './recording-bench.ts';

/** `node --import tsx bench/recording/run.ts [--quick]` */
const options = { ...parseArgs(process.argv.slice(2)), log: (line: string) => process.stderr.write(`${line}\n`) };
const result = await runRecordingBench(options);
saveResults(options.quick ? 'recording-quick' : 'recording', result);
process.stdout.write(`${formatTable(result.rows)}\n`);
