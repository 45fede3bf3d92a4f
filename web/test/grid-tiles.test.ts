import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GridTiles, TILE_QUALITY, type TileObserver, type TilePlayer } from '../src/player/grid-tiles.ts';
import type { PlayerQuality } from '../src/player/player-controller.ts';

/** What a tile's player was told, in order: 'in'/'out' for view, 'full'/'keyframes' for quality. */
class RecordingPlayer implements TilePlayer {
  said: string[] = [];
  setInView(inView: boolean) {
    this.said.push(inView ? 'in' : 'out');
  }
  setQuality(quality: PlayerQuality) {
    this.said.push(quality.keyframesOnly ? 'keyframes' : 'full');
  }
}

/** An IntersectionObserver the test drives: `report` is what the browser calls back. */
function fakeObserver() {
  const observed = new Set<object>();
  let report: (entries: Array<{ target: Element; isIntersecting: boolean }>) => void = () => {};
  const factory = (onChange: typeof report): TileObserver => {
    report = onChange;
    return { observe: (el) => observed.add(el), unobserve: (el) => observed.delete(el), disconnect: () => observed.clear() };
  };
  return { factory, observed, scroll: (el: object, isIntersecting: boolean) => report([{ target: el as Element, isIntersecting }]) };
}

test('grid tiles: a tile plays while in view and pauses off screen', () => {
  const io = fakeObserver();
  const grid = new GridTiles(io.factory);
  const [a, b] = [{}, {}];
  const [pa, pb] = [new RecordingPlayer(), new RecordingPlayer()];
  grid.add('a', a as Element, pa);
  grid.add('b', b as Element, pb);
  assert.equal(io.observed.size, 2);
  io.scroll(a, true);
  io.scroll(b, false);
  io.scroll(a, false);
  io.scroll(a, true);
  assert.deepEqual(pa.said, ['in', 'out', 'in']);
  assert.deepEqual(pb.said, ['out']);
  grid.remove('a');
  io.scroll(a, false);
  assert.deepEqual(pa.said, ['in', 'out', 'in'], 'a removed tile is no longer driven');
  assert.equal(io.observed.size, 1);
});

test('grid tiles: the clicked tile plays at full rate, the one before goes back to keyframes; scrolled away, the focus ends', () => {
  const io = fakeObserver();
  const grid = new GridTiles(io.factory);
  const els = [{}, {}];
  const players = [new RecordingPlayer(), new RecordingPlayer()];
  els.forEach((el, i) => grid.add(String(i), el as Element, players[i]!));
  grid.focus('0');
  grid.focus('0');
  grid.focus('1');
  assert.deepEqual(players[0]!.said, ['full', 'keyframes']);
  assert.deepEqual(players[1]!.said, ['full']);
  io.scroll(els[1]!, false);
  assert.deepEqual(players[1]!.said, ['full', 'keyframes', 'out']);
  assert.equal(grid.focusedId, null);
  grid.focus('nope');
  assert.equal(grid.focusedId, null, 'an unknown tile is not focused');
});

test('grid tiles: without IntersectionObserver every tile is in view; tiles start with keyframes only', () => {
  const grid = new GridTiles(() => null);
  const p = new RecordingPlayer();
  grid.add('a', {} as Element, p);
  assert.deepEqual(p.said, ['in']);
  assert.deepEqual(TILE_QUALITY, { keyframesOnly: true, minIntervalMs: 2000 });
});
