// One thumbnail with sharp, as one process: what bench/startup.py compares the resizer's
// fixed cost of a run with (node's start, loading sharp and libvips, one tiny image).
// node startup.js IN OUT
const sharp = require('sharp');
sharp(process.argv[2]).rotate().resize(1, 1, { fit: 'inside' }).png().toFile(process.argv[3])
  .catch(e => { console.error(e); process.exit(1); });
