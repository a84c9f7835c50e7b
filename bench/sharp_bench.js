// Copied from ../shared/tools/peer-sharp (the tried harness); driven by bench/bench.py.
// node sharp_bench.js run|batch --size N [--iters N] [--jobs N] [--repeat N] [--out DIR] [--fmt jpg|webp|png] [--conc N] files...
// --noicc 1: ignore embedded ICC profiles (like-for-like with pipelines that do no colour management)
// run:   per-image latency, sequential, median of --iters (after 1 warm-up)
// batch: whole list once (x --repeat) with --jobs promises in flight (set UV_THREADPOOL_SIZE >= jobs)
const args = process.argv.slice(2);
const mode = args.shift();
const opt = { size: 256, iters: 7, jobs: 2, repeat: 1, out: '/tmp/peer-sharp-out', fmt: 'jpg', conc: 1, noicc: 0 };
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i].startsWith('--')) { const k = args[i].slice(2); opt[k] = isNaN(+args[i + 1]) ? args[i + 1] : +args[i + 1]; i++; }
  else files.push(args[i]);
}
const sharp = require('sharp');
const fs = require('fs'), path = require('path');
sharp.cache(false);               // no libvips operation cache: every run really decodes
sharp.concurrency(opt.conc);      // libvips threads per image (default on glibc Linux is already 1)
fs.mkdirSync(opt.out, { recursive: true });
function one(f) {
  const stem = path.basename(f).replace(/\.[^.]+$/, '');
  let p = sharp(f, { limitInputPixels: 268402689, ignoreIcc: !!opt.noicc }).rotate().resize(opt.size, opt.size, { fit: 'inside' });
  if (opt.fmt === 'jpg') p = p.jpeg({ quality: 80 });
  else if (opt.fmt === 'webp') p = p.webp({ quality: 80 });
  else p = p.png();
  return p.toFile(path.join(opt.out, stem + '.' + opt.fmt));
}
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = a => { a = [...a].sort((x, y) => x - y); const n = a.length; return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2; };
(async () => {
  if (mode === 'run') {
    for (const f of files) {
      let info;
      try { info = await one(f); } catch (e) { console.log(`sharp\tlibvips\t${opt.size}\t${path.basename(f)}\tERROR\t${e.message}`); continue; }
      const ts = [], cs = [];
      for (let i = 0; i < opt.iters; i++) {
        const c0 = process.cpuUsage(), t0 = now(); await one(f); ts.push(now() - t0);
        const c = process.cpuUsage(c0); cs.push((c.user + c.system) / 1e3);   // all threads of the process
      }
      // tool enc size file orig out wall_med wall_min cpu_med
      console.log(`sharp\tlibvips\t${opt.size}\t${path.basename(f)}\t-\t${info.width}x${info.height}\t${median(ts).toFixed(2)}\t${Math.min(...ts).toFixed(2)}\t${median(cs).toFixed(2)}`);
    }
  } else {
    const work = []; for (let r = 0; r < opt.repeat; r++) work.push(...files);
    let next = 0; const t0 = now();
    const worker = async () => { while (next < work.length) { const f = work[next++]; try { await one(f); } catch (e) { console.error(f, e.message); } } };
    await Promise.all(Array.from({ length: opt.jobs }, worker));
    const el = now() - t0;
    console.log(`sharp\tlibvips\t${opt.size}\tjobs=${opt.jobs}\timages=${work.length}\twall_ms=${el.toFixed(1)}\timg_per_s=${(work.length / el * 1e3).toFixed(2)}`);
  }
})();
