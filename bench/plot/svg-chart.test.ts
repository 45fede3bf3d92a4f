import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderChart, type Panel } from './svg-chart.ts';

const cpu: Panel = {
  title: 'CPU, one camera',
  xLabel: 'viewers',
  yLabel: '% of one core',
  xLog: true,
  series: [
    { name: 'picam relay', points: [[1, 2], [1000, 60], [100, 12]] },
    { name: 'floor', points: [[1, 1.5], [1000, 56]], dashed: true },
  ],
};

test('a chart draws each series in x order, its floor dashed, on axes that hold every point', () => {
  const svg = renderChart([cpu], 'from all.json');
  const lines = [...svg.matchAll(/<polyline[^>]*points="([^"]+)"/g)].map((m) => m[1]!.split(' ').map((p) => p.split(',').map(Number)));
  assert.equal(lines.length, 2);
  const xs = lines[0]!.map(([x]) => x!);
  assert.deepEqual(xs, [...xs].sort((a, b) => a - b), 'points joined left to right');
  assert.match(svg, /stroke-dasharray[^>]*points=/, 'the floor is dashed');
  const ys = lines.flat().map(([, y]) => y!);
  assert.ok(Math.min(...ys) >= 30 + 2 * 14 && Math.max(...ys) <= 280 - 44, 'every point inside the plot area, below the legend');
  assert.match(svg, />1000</, 'the log axis reaches 1000 viewers');
  assert.equal(renderChart([cpu], 'from all.json'), svg, 'the same figures draw the same bytes (the chart is committed)');
});

test('a panel without points is left out rather than drawn empty', () => {
  const empty: Panel = { ...cpu, title: 'Memory', series: [{ name: 'picam relay', points: [] }] };
  const svg = renderChart([cpu, empty], 'x');
  assert.doesNotMatch(svg, />Memory</);
  assert.match(svg, /height="308"/, 'one row of panels');
});
