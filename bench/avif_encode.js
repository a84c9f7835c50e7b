// sharp's AVIF encoder (libvips -> libheif -> libaom) on given PNG thumbnails: the peer of
// resizer/examples/avif_speed.rs, driven by bench/avif.sh.
// node avif_encode.js --quality Q --effort E [--iters N] files.png...
// Prints per file: tool, effort, quality, file, median encode ms, bytes, mean abs diff
// (0-255 per channel) of the decoded AVIF from the PNG's pixels. One libvips thread.
const args = process.argv.slice(2);
const opt = { quality: 50, effort: 4, iters: 5 };
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i].startsWith('--')) { opt[args[i].slice(2)] = +args[i + 1]; i++; } else files.push(args[i]);
}
const sharp = require('sharp');
sharp.cache(false);
sharp.concurrency(1);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = a => { a = [...a].sort((x, y) => x - y); return a[(a.length - 1) >> 1]; };
(async () => {
  for (const f of files) {
    const { data, info } = await sharp(f).raw().toBuffer({ resolveWithObject: true });
    const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
    // 4:4:4 is sharp's AVIF default; spelled out because the resizer encodes 4:4:4 too.
    const enc = () => sharp(data, raw).avif({ quality: opt.quality, effort: opt.effort, chromaSubsampling: '4:4:4' }).toBuffer();
    let out = await enc();
    const ts = [];
    for (let i = 0; i < opt.iters; i++) { const t0 = now(); out = await enc(); ts.push(now() - t0); }
    const back = await sharp(out).ensureAlpha(info.channels === 4 ? undefined : 1).raw().toBuffer();
    let diff = 0, n = 0;
    const bc = back.length / (info.width * info.height);
    for (let p = 0; p < info.width * info.height; p++) {
      for (let c = 0; c < info.channels; c++) { diff += Math.abs(back[p * bc + c] - data[p * info.channels + c]); n++; }
    }
    console.log(`sharp\t${opt.effort}\t${opt.quality}\t${f.split('/').pop()}\t${median(ts).toFixed(2)}\t${out.length}\t${(diff / n).toFixed(2)}`);
  }
})();
