import { formatTable, parseArgs, saveResults } from '../lib/table.ts';
import { runFanout } from './fanout.ts';

/** `node --import tsx bench/fanout/run.ts [--quick] [--cpu-prof] [--viewers=N [--cameras=M]]` */
const options = { ...parseArgs(process.argv.slice(2)), log: (line: string) => process.stderr.write(`${line}\n`) };
const result = await runFanout(options);
saveResults(options.quick ? 'fanout-quick' : 'fanout', result);
process.stdout.write(`${formatTable(result.rows)}\n`);
