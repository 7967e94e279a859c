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
//   node tfjs_ref.js faceres MODEL.json RGB W H BOXES OUTDIR
//       BOXES: one detector box "x y w h" a line (image pixels); per box, in
//       order: OUTDIR/input.f32 [N,224,224,3], gender.f32 [N], age.f32
//       [N,100], descriptor.f32 [N,1024]; human.txt "gender genderScore age"
//   node tfjs_ref.js faceapi-expression FACEAPI_DIR RGB N W H OUTDIR
//       face-api's own FaceExpressionNet (FACEAPI_DIR = the npm package:
//       dist/face-api.node-wasm.js with its wasm backend stubbed out, the
//       CPU backend of the same tfjs runs it) on N crops of WxH:
//       OUTDIR/input.f32 [N,112,112,3] (toBatchTensor(112): padded square,
//       resized, 0..255), OUTDIR/scores.f32 [N,7] in face-api's label order
//   node tfjs_ref.js graph MODEL.json IN.f32 N SIZE OUTPUT OUT.f32
//       the graph as is on N inputs [N,SIZE,SIZE,3] (our pre-processing:
//       tools/facerec_check.c), OUTPUT's values into OUT.f32 (the
//       face-recognition candidates: the conversion, not a pipeline)
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

async function faceres(modelJson, rgb, w, h, boxesFile, out) {
  const model = await tf.loadGraphModel(handler(modelJson));
  const img = readRGB(rgb, 1, w, h);
  const boxes = fs.readFileSync(boxesFile, 'utf8').trim().split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number));
  const inputs = [], genders = [], ages = [], descs = [], lines = [];
  for (const [x, y, bw, bh] of boxes) {
    // Human z3(): detector box -> xt (x detector.scale 1.4 about the centre)
    // -> yt (square on the longer side, corners Math.round)
    const lt = (b) => [b.startPoint[0] + (b.endPoint[0] - b.startPoint[0]) / 2,
      b.startPoint[1] + (b.endPoint[1] - b.startPoint[1]) / 2];
    const p2 = (b) => [Math.abs(b.endPoint[0] - b.startPoint[0]), Math.abs(b.endPoint[1] - b.startPoint[1])];
    const raw = { startPoint: [x, y], endPoint: [x + bw, y + bh] };
    const c = lt(raw), sz = p2(raw), r = [1.4 * sz[0] / 2, 1.4 * sz[1] / 2];
    const scaled = { startPoint: [c[0] - r[0], c[1] - r[1]], endPoint: [c[0] + r[0], c[1] + r[1]] };
    const c2 = lt(scaled), o = Math.max(...p2(scaled)) / 2;
    const sq = [Math.round(c2[0] - o), Math.round(c2[1] - o), Math.round(c2[0] + o), Math.round(c2[1] + o)];
    // T5(): cropAndResize to the face tensor (256 without a mesh model), /255
    const face = tf.div(tf.image.cropAndResize(img, [[sq[1] / h, sq[0] / w, sq[3] / h, sq[2] / w]], [0], [256, 256]), 255);
    // bA(): resizeBilinear to the model input, x255
    const size = model.inputs[0].shape[2];
    const input = tf.mul(tf.image.resizeBilinear(face, [size, size], false), 255);
    const m = model.execute(input);
    const g = await m.find((t) => t.shape[1] === 1).data();
    const k = await m.find((t) => t.shape[1] === 100).data();
    const d = await m.find((t) => t.shape[1] === 1024).data();
    // Human N5() post-processing, verbatim
    const T = Math.trunc(200 * Math.abs(g[0] - 0.5)) / 100;
    const gender = T > 0.1 ? (g[0] <= 0.5 ? 'female' : 'male') : 'unknown';
    const p = (await tf.argMax(m.find((t) => t.shape[1] === 100), 1).data())[0];
    const age = Math.round(k[p - 1] > k[p + 1] ? 10 * p - 100 * k[p - 1] : 10 * p + 100 * k[p + 1]) / 10;
    lines.push([gender, Math.min(0.99, T), age].join(' '));
    inputs.push(Buffer.from((await input.data()).buffer));
    genders.push(Buffer.from(g.buffer));
    ages.push(Buffer.from(k.buffer));
    descs.push(Buffer.from(d.buffer));
  }
  fs.writeFileSync(path.join(out, 'input.f32'), Buffer.concat(inputs));
  fs.writeFileSync(path.join(out, 'gender.f32'), Buffer.concat(genders));
  fs.writeFileSync(path.join(out, 'age.f32'), Buffer.concat(ages));
  fs.writeFileSync(path.join(out, 'descriptor.f32'), Buffer.concat(descs));
  fs.writeFileSync(path.join(out, 'human.txt'), lines.join('\n') + '\n');
}

async function faceapiExpression(faceapiDir, rgb, n, w, h, out) {
  // face-api requires '@tensorflow/tfjs' and '@tensorflow/tfjs-backend-wasm':
  // hand it our tfjs, and an empty wasm module (it only re-exports it; the
  // CPU backend set in main() runs everything).
  const Module = require('module');
  const tfjsPath = path.join(process.env.TFJS_DIR || '.', 'node_modules/@tensorflow/tfjs');
  const load = Module._load;
  Module._load = function (req, parent, isMain) {
    if (req === '@tensorflow/tfjs-backend-wasm') return {};
    if (req === '@tensorflow/tfjs') return load(tfjsPath, parent, isMain);
    return load(req, parent, isMain);
  };
  const faceapi = require(path.join(faceapiDir, 'dist/face-api.node-wasm.js'));
  Module._load = load;
  const net = faceapi.nets.faceExpressionNet;
  await net.loadFromDisk(path.join(faceapiDir, 'model'));
  const batch = readRGB(rgb, n, w, h);
  const crops = tf.unstack(batch);
  const netInput = await faceapi.toNetInput(crops);
  const input = netInput.toBatchTensor(112, true);
  const scores = net.forwardInput(netInput);
  writeF32(path.join(out, 'input.f32'), await input.data());
  writeF32(path.join(out, 'scores.f32'), await scores.data());
}

async function graph(modelJson, inFile, n, size, output, outFile) {
  const model = await tf.loadGraphModel(handler(modelJson));
  const raw = fs.readFileSync(inFile);
  const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  const outs = [];
  for (let i = 0; i < n; i++) {
    const one = tf.tensor4d(data.subarray(i * size * size * 3, (i + 1) * size * size * 3), [1, size, size, 3]);
    const y = model.execute(one, output);
    outs.push(Buffer.from((await y.data()).buffer));
  }
  fs.writeFileSync(outFile, Buffer.concat(outs));
}

async function main() {
  const a = process.argv.slice(2);
  await tf.setBackend('cpu');
  if (a[0] === 'objects' && a.length === 6) await objects(a[1], a[2], +a[3], +a[4], a[5]);
  else if (a[0] === 'emotion' && a.length === 7) await emotion(a[1], a[2], +a[3], +a[4], +a[5], a[6]);
  else if (a[0] === 'faceres' && a.length === 7) await faceres(a[1], a[2], +a[3], +a[4], a[5], a[6]);
  else if (a[0] === 'faceapi-expression' && a.length === 7) {
    await faceapiExpression(a[1], a[2], +a[3], +a[4], +a[5], a[6]);
  } else if (a[0] === 'graph' && a.length === 7) {
    await graph(a[1], a[2], +a[3], +a[4], a[5], a[6]);
  } else throw new Error('usage: see the header of tfjs_ref.js');
}

main().catch((e) => { console.error('tfjs_ref: ' + (e && e.stack || e)); process.exit(1); });
