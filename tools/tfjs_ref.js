// tfjs_ref.js -- run an original TF.js graph model the way Human runs it, as
// the reference that our ONNX conversion and C pre/post-processing are
// checked against (scripts/setup.d/20-models-human.sh, tools/model_check.c).
//
// Uses the pure-JS @tensorflow/tfjs 4.22 (CPU backend, no native addon), from
// $TFJS_DIR/node_modules. Images arrive as raw RGB8 (decoded by
// model_check with libvips, so both sides see the same pixels); every tensor
// is written back as raw little-endian float32.
//
//   node tfjs_ref.js objects MODEL.json RGB W H OUTDIR
//       OUTDIR/input.f32      [1,512,512,3] Human's resizeBilinear of the image
//       OUTDIR/detections.f32 [1,100,6]  OUTDIR/keypoints.f32 [1,128,128,80]
//       OUTDIR/human.txt      Human's final objects: "class score x y w h" a line
//   node tfjs_ref.js emotion MODEL.json RGB N W H OUTDIR
//       N crops of WxH; OUTDIR/input.f32 [N,64,64,1], OUTDIR/scores.f32 [N,7]
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require(path.join(process.env.TFJS_DIR || '.', 'node_modules/@tensorflow/tfjs'));

function handler(jsonPath) {
  return {
    load: async () => {
      const j = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
      const dir = path.dirname(jsonPath);
      const specs = [], bufs = [];
      for (const g of j.weightsManifest) {
        specs.push(...g.weights);
        for (const p of g.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
      }
      const all = Buffer.concat(bufs);
      return {
        modelTopology: j.modelTopology, format: j.format, generatedBy: j.generatedBy,
        convertedBy: j.convertedBy, signature: j.signature, userDefinedMetadata: j.userDefinedMetadata,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.length),
      };
    },
  };
}

function writeF32(file, data) {
  const f = Float32Array.from(data);
  fs.writeFileSync(file, Buffer.from(f.buffer));
}

function readRGB(file, n, w, h) {
  const raw = fs.readFileSync(file);
  if (raw.length !== n * w * h * 3) throw new Error(`${file}: ${raw.length} bytes, want ${n * w * h * 3}`);
  return tf.tensor4d(Float32Array.from(raw), [n, h, w, 3]);
}

async function objects(modelJson, rgb, w, h, out) {
  const model = await tf.loadGraphModel(handler(modelJson));
  const img = readRGB(rgb, 1, w, h);
  // Human p5(): resizeBilinear(e, [512, 512]) on the 0..255 float image
  const size = model.inputs[0].shape[2];
  const input = tf.image.resizeBilinear(img, [size, size]);
  const [det, kp] = model.execute(input, ['tower_0/detections', 'tower_0/keypoints']);
  writeF32(path.join(out, 'input.f32'), await input.data());
  writeF32(path.join(out, 'detections.f32'), await det.data());
  writeF32(path.join(out, 'keypoints.f32'), await kp.data());
  // Human iA(): boxes [y1,x1,y2,x2], class-agnostic NMS (max 10, IoU 0.4, score 0.2)
  const s = await det.array();
  const sq = tf.squeeze(det);
  const parts = tf.split(sq, 6, 1);
  const boxes = tf.squeeze(tf.stack([parts[1], parts[0], parts[3], parts[2]], 1));
  const scores = tf.squeeze(parts[4]);
  const nms = await tf.image.nonMaxSuppressionAsync(boxes, scores, 10, 0.4, 0.2);
  const lines = [];
  for (const c of Array.from(await nms.data())) {
    const r = s[0][c];
    const x = r[0] / size, y = r[1] / size;
    const b = [x, y, r[2] / size - x, r[3] / size - y];
    lines.push([r[5], Math.trunc(100 * r[4]) / 100, Math.trunc(b[0] * w), Math.trunc(b[1] * h),
      Math.trunc(b[2] * w), Math.trunc(b[3] * h)].join(' '));
  }
  fs.writeFileSync(path.join(out, 'human.txt'), lines.join('\n') + '\n');
}

async function emotion(modelJson, rgb, n, w, h, out) {
  const model = await tf.loadGraphModel(handler(modelJson));
  // Human S5(): the face tensor is 0..1; resizeBilinear to 64x64, grey with
  // [0.2989, 0.587, 0.114], then (x - 0.5) * 2
  const face = tf.div(readRGB(rgb, n, w, h), 255);
  const resized = tf.image.resizeBilinear(face, [64, 64], false);
  const grey = tf.sum(tf.mul(resized, tf.tensor1d([0.2989, 0.587, 0.114])), 3, true);
  const input = tf.mul(tf.sub(grey, 0.5), 2);
  const scores = model.execute(input);
  writeF32(path.join(out, 'input.f32'), await input.data());
  writeF32(path.join(out, 'scores.f32'), await scores.data());
}

async function main() {
  const a = process.argv.slice(2);
  await tf.setBackend('cpu');
  if (a[0] === 'objects' && a.length === 6) await objects(a[1], a[2], +a[3], +a[4], a[5]);
  else if (a[0] === 'emotion' && a.length === 7) await emotion(a[1], a[2], +a[3], +a[4], +a[5], a[6]);
  else throw new Error('usage: see the header of tfjs_ref.js');
}

main().catch((e) => { console.error('tfjs_ref: ' + (e && e.stack || e)); process.exit(1); });
