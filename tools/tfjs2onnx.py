#!/usr/bin/python3
"""tfjs2onnx.py -- convert a TF.js *graph* model (model.json + .bin shards) to ONNX.

Offline model preparation for Scry (run by scripts/setup.d/20-models-human.sh
with Debian's /usr/bin/python3, python3-onnx 1.12 and python3-numpy). The
running product never uses this: it loads the .onnx with ONNX Runtime's C API.

Design
------
* One TF node -> a few ONNX nodes, emitted in topological order from the
  requested outputs (nodes not feeding an output are dropped).
* Layout: the graph keeps TF's NHWC semantics everywhere. Only the spatial ops
  (Conv, depthwise Conv, MaxPool, Resize) are NCHW in ONNX, so each is wrapped
  in Transpose(NHWC->NCHW) ... Transpose(NCHW->NHWC). Every other op (Mean over
  axes 1,2, Concat on axis 3, StridedSlice, Reshape, the CenterNet decode) then
  keeps its TF meaning unchanged, which is what makes a small converter
  trustworthy. ONNX Runtime's transpose optimiser cancels the back-to-back
  Transpose pairs at session load, so the cost at run time is small (measured:
  see docs/vision-objects.md).
* TF "SAME" padding == ONNX auto_pad SAME_UPPER (extra padding at the end).
* Weights: float32, int32, and TF.js quantised shards (float16, or uint8/uint16
  with scale+min) are dequantised to float32 initializers.
* Fused ops: _FusedConv2D / FusedDepthwiseConv2dNative with fused_ops
  BiasAdd [+ Relu|Relu6|Elu|LeakyRelu|Sigmoid], and _FusedMatMul (a dense
  layer: Gemm) with BiasAdd [+ the same activations]; anything else fails
  loudly.
* Integer semantics: TF FloorDiv is floor division; it is computed in float64
  (exact for |x| < 2^53) and cast back. FloorMod == ONNX Mod(fmod=0).
  TopKV2 indices are int64 in ONNX and cast back to TF's int32.

Unsupported ops or attributes raise an error naming the node: a converter that
silently guesses produces a model that is subtly wrong, which is worse than
no model. The result is checked against TF.js on real images by the setup step.

face-api models (weights-only: the architecture is in face-api's JS) are
written as a TF-style graph first (faceapi_expression_graph) and then go
through the same converter.

Usage: tfjs2onnx.py MODEL.json OUT.onnx [--outputs a,b,c] [--opset 13]
       tfjs2onnx.py MANIFEST.json OUT.onnx --faceapi face_expression
"""
import argparse
import base64
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NP_OF = {"float32": np.float32, "int32": np.int32, "bool": np.bool_,
         "float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}
ONNX_OF_TF = {"DT_FLOAT": TensorProto.FLOAT, "DT_INT32": TensorProto.INT32,
              "DT_BOOL": TensorProto.BOOL, "DT_INT64": TensorProto.INT64}
ONNX_OF_NP = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int32): TensorProto.INT32,
              np.dtype(np.int64): TensorProto.INT64, np.dtype(np.bool_): TensorProto.BOOL}
INT64_MAX = np.iinfo(np.int64).max


class ConvertError(Exception):
    pass


def attr_value(a):
    """Decode one TF.js JSON attr into a Python value."""
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "i" in a:
        return int(a["i"])
    if "f" in a:
        return float(a["f"])
    if "b" in a:
        return bool(a["b"])
    if "type" in a:
        return a["type"]
    if "list" in a:
        lst = a["list"]
        if "s" in lst:
            return [base64.b64decode(x).decode() for x in lst["s"]]
        if "i" in lst:
            return [int(x) for x in lst["i"]]
        if "f" in lst:
            return [float(x) for x in lst["f"]]
        return []
    if "shape" in a:
        return a["shape"]
    if "tensor" in a:
        return a["tensor"]
    return None


def load_weights(model_json, model_dir):
    """name -> numpy array, following the manifest order across shards."""
    out = {}
    for group in model_json["weightsManifest"]:
        buf = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            dtype = q["dtype"] if q else w["dtype"]
            if dtype not in NP_OF:
                raise ConvertError("weight %s: unsupported dtype %s" % (w["name"], dtype))
            size = np.dtype(NP_OF[dtype]).itemsize * n
            raw = np.frombuffer(buf[off:off + size], dtype=NP_OF[dtype]).copy()
            if raw.size != n:
                raise ConvertError("weight %s: shard too short" % w["name"])
            off += size
            if q:
                if dtype == "float16":
                    arr = raw.astype(np.float32)
                elif "scale" in q:
                    arr = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q.get("min", 0))
                else:
                    raise ConvertError("weight %s: quantisation %r not supported" % (w["name"], q))
                arr = arr.astype(NP_OF[q.get("original_dtype", w["dtype"])])
            else:
                arr = raw
            out[w["name"]] = arr.reshape(shape)
        if off != len(buf):
            raise ConvertError("weights group %s: %d bytes used of %d" % (group["paths"], off, len(buf)))
    return out


class Converter:
    def __init__(self, model_json, weights, opset):
        self.nodes = {n["name"]: n for n in model_json["modelTopology"]["node"]}
        self.weights = weights
        self.opset = opset
        self.onnx_nodes = []
        self.initializers = []
        self.inputs = []
        self.values = {}      # TF tensor ref ("node" / "node:1") -> onnx value name
        self.consts = {}      # TF tensor ref -> numpy value when known at convert time
        self.dtypes = {}      # onnx value name -> ONNX elem type
        self.counter = 0

    # -- helpers ---------------------------------------------------------
    def fresh(self, base):
        self.counter += 1
        return "%s__%d" % (base, self.counter)

    def const(self, arr, base="c"):
        name = self.fresh(base)
        arr = np.asarray(arr)
        self.initializers.append(numpy_helper.from_array(arr, name))
        self.dtypes[name] = ONNX_OF_NP[arr.dtype]
        return name

    def emit(self, op, inputs, base, out_type=None, n_out=1, **attrs):
        outs = [self.fresh(base) for _ in range(n_out)]
        self.onnx_nodes.append(helper.make_node(op, inputs, outs, **attrs))
        t = out_type if out_type is not None else (self.dtypes.get(inputs[0]) if inputs else None)
        for o in outs:
            self.dtypes[o] = t
        return outs if n_out > 1 else outs[0]

    def ref(self, name):
        """Canonical form of a TF input reference (strip ^control, default :0)."""
        if name.startswith("^"):
            return None
        return name if ":" in name else name + ":0"

    def value(self, tfref):
        r = self.ref(tfref)
        if r not in self.values and r in self.consts:
            # Constants become initializers only when an op reads them as
            # tensors: conv filters are re-laid-out, so the TF copy is dropped.
            arr = self.consts[r]
            self.values[r] = self.const(arr.astype(np.float32) if arr.dtype == np.float16 else arr,
                                        r.split(":")[0])
        return self.values[r]

    def constval(self, tfref):
        r = self.ref(tfref)
        if r not in self.consts:
            raise ConvertError("%s must be a constant for this converter" % tfref)
        return self.consts[r]

    def nchw(self, x):
        return self.emit("Transpose", [x], "to_nchw", perm=[0, 3, 1, 2])

    def nhwc(self, x):
        return self.emit("Transpose", [x], "to_nhwc", perm=[0, 2, 3, 1])

    # -- graph walk ------------------------------------------------------
    def topo(self, outputs):
        order, state = [], {}
        stack = [(o.split(":")[0], False) for o in reversed(outputs)]
        while stack:
            name, done = stack.pop()
            if done:
                if state.get(name) != 2:
                    state[name] = 2
                    order.append(name)
                continue
            if state.get(name):
                continue
            if name not in self.nodes:
                raise ConvertError("unknown node %s" % name)
            state[name] = 1
            stack.append((name, True))
            for i in self.nodes[name].get("input", []):
                if i.startswith("^"):
                    continue
                dep = i.split(":")[0]
                if not state.get(dep):
                    stack.append((dep, False))
        return order

    def convert(self, outputs):
        for name in self.topo(outputs):
            node = self.nodes[name]
            attrs = {k: attr_value(v) for k, v in node.get("attr", {}).items()}
            fn = getattr(self, "op_" + node["op"].lstrip("_"), None)
            if fn is None:
                raise ConvertError("node %s: op %s not supported" % (name, node["op"]))
            ins = [i for i in node.get("input", []) if not i.startswith("^")]
            res = fn(name, ins, attrs)
            if res is None:
                continue
            if not isinstance(res, list):
                res = [res]
            for k, v in enumerate(res):
                self.values["%s:%d" % (name, k)] = v

    # -- ops -------------------------------------------------------------
    def op_Const(self, name, ins, a):
        if name in self.weights:
            arr = self.weights[name]
        else:
            t = a.get("value") or {}
            raise ConvertError("const %s has no weight data (inline tensors: %r)" % (name, t))
        self.consts[name + ":0"] = arr
        return None

    def op_Placeholder(self, name, ins, a):
        dims = []
        for d in a["shape"].get("dim", []):
            s = int(d.get("size", -1))
            dims.append(s if s >= 0 else "N")
        elem = ONNX_OF_TF[a.get("dtype", "DT_FLOAT")]
        self.inputs.append(helper.make_tensor_value_info(name, elem, dims))
        self.dtypes[name] = elem
        return name

    def op_Identity(self, name, ins, a):
        return self.value(ins[0])

    def activation(self, x, op, a, where):
        if op == "Relu":
            return self.emit("Relu", [x], "relu")
        if op == "Relu6":
            return self.emit("Clip", [x, self.const(np.float32(0)), self.const(np.float32(6))], "relu6")
        if op == "Elu":
            return self.emit("Elu", [x], "elu")
        if op == "Sigmoid":
            return self.emit("Sigmoid", [x], "sigmoid")
        if op == "LeakyRelu":
            return self.emit("LeakyRelu", [x], "lrelu", alpha=float(a.get("leakyrelu_alpha", 0.2)))
        raise ConvertError("%s: fused activation %s not supported" % (where, op))

    def conv(self, name, ins, a, depthwise):
        if a.get("data_format", "NHWC") != "NHWC":
            raise ConvertError("%s: data_format %s" % (name, a.get("data_format")))
        filt = self.constval(ins[1]).astype(np.float32)       # H, W, Cin, M|Cout
        kh, kw, cin, cm = filt.shape
        if depthwise:
            w = filt.transpose(2, 3, 0, 1).reshape(cin * cm, 1, kh, kw)
            group = cin
        else:
            w = filt.transpose(3, 2, 0, 1)
            group = 1
        strides = a.get("strides", [1, 1, 1, 1])
        dil = a.get("dilations", [1, 1, 1, 1]) or [1, 1, 1, 1]
        pad = a.get("padding", "VALID")
        if pad not in ("SAME", "VALID"):
            raise ConvertError("%s: padding %s" % (name, pad))
        fused = a.get("fused_ops", [])
        inputs = [self.nchw(self.value(ins[0])), self.const(w, name + "_w")]
        acts = []
        if fused:
            if fused[0] != "BiasAdd":
                raise ConvertError("%s: fused ops %s not supported" % (name, fused))
            if a.get("num_args", 1) != 1:
                raise ConvertError("%s: num_args %s" % (name, a.get("num_args")))
            inputs.append(self.const(self.constval(ins[2]).astype(np.float32).reshape(-1), name + "_b"))
            acts = fused[1:]
        y = self.emit("Conv", inputs, "conv", kernel_shape=[kh, kw], strides=[strides[1], strides[2]],
                      dilations=[dil[1], dil[2]], group=group,
                      auto_pad="SAME_UPPER" if pad == "SAME" else "VALID")
        for act in acts:
            y = self.activation(y, act, a, name)
        return self.nhwc(y)

    def op_FusedConv2D(self, name, ins, a):
        return self.conv(name, ins, a, False)

    def op_Conv2D(self, name, ins, a):
        return self.conv(name, ins, a, False)

    def op_DepthwiseConv2dNative(self, name, ins, a):
        return self.conv(name, ins, a, True)

    def op_FusedDepthwiseConv2dNative(self, name, ins, a):
        return self.conv(name, ins, a, True)

    def op_FusedMatMul(self, name, ins, a):
        # MatMul(a, b) + BiasAdd [+ activation] on 2-D tensors (a dense
        # layer): ONNX Gemm with the bias as C, then the activation.
        fused = a.get("fused_ops", [])
        if not fused or fused[0] != "BiasAdd" or a.get("num_args", 1) != 1:
            raise ConvertError("%s: fused ops %s (num_args %s) not supported"
                               % (name, fused, a.get("num_args")))
        y = self.emit("Gemm", [self.value(ins[0]), self.value(ins[1]),
                               self.value(ins[2])], "gemm",
                      transA=1 if a.get("transpose_a") else 0,
                      transB=1 if a.get("transpose_b") else 0)
        for act in fused[1:]:
            y = self.activation(y, act, a, name)
        return y

    def op_MatMul(self, name, ins, a):
        x, w = self.value(ins[0]), self.value(ins[1])
        if a.get("transpose_a"):
            x = self.emit("Transpose", [x], "mm_ta", perm=[1, 0])
        if a.get("transpose_b"):
            w = self.emit("Transpose", [w], "mm_tb", perm=[1, 0])
        return self.emit("MatMul", [x, w], "matmul")

    def op_MaxPool(self, name, ins, a):
        k, s = a["ksize"], a["strides"]
        y = self.emit("MaxPool", [self.nchw(self.value(ins[0]))], "maxpool", kernel_shape=[k[1], k[2]],
                      strides=[s[1], s[2]], auto_pad="SAME_UPPER" if a["padding"] == "SAME" else "VALID")
        return self.nhwc(y)

    def op_AvgPool(self, name, ins, a):
        k, st = a["ksize"], a["strides"]
        if a.get("data_format", "NHWC") != "NHWC" or a["padding"] != "VALID":
            # TF's SAME average pooling excludes the padding from the count;
            # ONNX's count_include_pad=0 matches, but nothing here needs it
            raise ConvertError("%s: AvgPool %s/%s not supported" % (name, a.get("data_format"),
                                                                    a["padding"]))
        y = self.emit("AveragePool", [self.nchw(self.value(ins[0]))], "avgpool",
                      kernel_shape=[k[1], k[2]], strides=[st[1], st[2]], auto_pad="VALID")
        return self.nhwc(y)

    def op_ResizeBilinear(self, name, ins, a):
        if a.get("align_corners") or a.get("half_pixel_centers"):
            mode = "align_corners" if a.get("align_corners") else "half_pixel"
        else:
            mode = "asymmetric"          # TF's legacy resize: src = dst * in/out
        size = self.constval(ins[1]).astype(np.int64)
        x = self.nchw(self.value(ins[0]))
        shape = self.emit("Shape", [x], "shape", out_type=TensorProto.INT64)
        nc = self.emit("Slice", [shape, self.const(np.array([0], np.int64)),
                                 self.const(np.array([2], np.int64))], "nc")
        sizes = self.emit("Concat", [nc, self.const(size)], "sizes", axis=0)
        y = self.emit("Resize", [x, "", "", sizes], "resize", mode="linear",
                      coordinate_transformation_mode=mode)
        self.dtypes[y] = TensorProto.FLOAT
        return self.nhwc(y)

    def binary(self, op, ins, base):
        return self.emit(op, [self.value(ins[0]), self.value(ins[1])], base)

    def op_Add(self, name, ins, a):
        return self.binary("Add", ins, "add")

    def op_AddV2(self, name, ins, a):
        return self.binary("Add", ins, "add")

    def op_BiasAdd(self, name, ins, a):
        return self.binary("Add", ins, "add")

    def op_Sub(self, name, ins, a):
        return self.binary("Sub", ins, "sub")

    def op_Mul(self, name, ins, a):
        pat = self.hard_swish_input(ins)
        if pat is not None:
            xc = self.nchw(self.value(pat[0]))
            return self.nhwc(self.emit("Mul", [xc, self.hard_sigmoid_nchw(xc, pat)], "hswish"))
        pat = self.hard_sigmoid_input(ins)
        if pat is not None:
            return self.nhwc(self.hard_sigmoid_nchw(self.nchw(self.value(pat[0])), pat))
        return self.binary("Mul", ins, "mul")

    # -- MobileNetV3's hard-swish and hard-sigmoid -------------------------
    # TF.js spells them x * c * relu6(x + k) and c * relu6(x + k) (k = 3 and
    # c = 1/6 as stored in float16: 0.16662598): four and three elementwise
    # ops, none of which ONNX Runtime's NCHWc layout (its fast convolution
    # path) runs, so each costs a reorder out of that layout and back.
    # Rewritten with ops it runs on blocked tensors -- per-channel affine maps
    # (BatchNormalization, which it turns into a depthwise 1x1 convolution),
    # Relu, Add, Mul -- as the same function with the model's own constants:
    #   c * relu6(x + k) = relu(c*x + c*k) - relu(c*x + c*k - 6c)
    # The setup check against TF.js covers it like every other op.
    CONV_OPS = ("FusedConv2D", "Conv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative")

    def tf_node(self, ref):
        if ref is None or ref.startswith("^"):
            return None
        return self.nodes.get(ref.split(":")[0])

    def scalar(self, ref):
        """The value of a scalar constant, or None."""
        r = self.ref(ref)
        if r not in self.consts or np.size(self.consts[r]) != 1:
            return None
        return float(np.asarray(self.consts[r], dtype=np.float32).reshape(-1)[0])

    def conv_channels(self, ref):
        """Output channels of a convolution node (None if ref is not one)."""
        n = self.tf_node(ref)
        if n is None or n["op"].lstrip("_") not in self.CONV_OPS:
            return None
        filt = self.consts.get(self.ref(n["input"][1]))
        if filt is None or filt.ndim != 4:
            return None
        return int(filt.shape[3]) if "Depthwise" not in n["op"] else int(filt.shape[2] * filt.shape[3])

    def relu6_shift(self, ref):
        """(x, k) if ref is relu6(x + k) with x a convolution, else None."""
        r = self.tf_node(ref)
        if r is None or r["op"] != "Relu6":
            return None
        add = self.tf_node(r["input"][0])
        if add is None or add["op"] not in ("Add", "AddV2"):
            return None
        for p, q in ((0, 1), (1, 0)):
            k = self.scalar(add["input"][q])
            if k is not None and self.conv_channels(add["input"][p]):
                return add["input"][p], k
        return None

    def hard_sigmoid_input(self, ins):
        """(x, c, k) if Mul(ins) is c * relu6(x + k), else None."""
        for a, b in ((0, 1), (1, 0)):
            c, xk = self.scalar(ins[a]), self.relu6_shift(ins[b])
            if c is not None and c > 0 and xk is not None:
                return xk[0], c, xk[1]
        return None

    def hard_swish_input(self, ins):
        """(x, c, k) if Mul(ins) is (x * c) * relu6(x + k), else None."""
        for a, b in ((0, 1), (1, 0)):
            m, xk = self.tf_node(ins[a]), self.relu6_shift(ins[b])
            if m is None or m["op"] != "Mul" or xk is None:
                continue
            mi = m["input"]
            for p, q in ((0, 1), (1, 0)):
                c = self.scalar(mi[p])
                if c is not None and c > 0 and self.ref(mi[q]) == self.ref(xk[0]):
                    return xk[0], c, xk[1]
        return None

    def hard_sigmoid_nchw(self, xc, pat):
        xref, c, k = pat
        n = self.conv_channels(xref)

        def affine(v, scale, bias):
            return self.emit("BatchNormalization",
                             [v, self.const(np.full(n, scale, np.float32)),
                              self.const(np.full(n, bias, np.float32)),
                              self.const(np.zeros(n, np.float32)),
                              self.const(np.ones(n, np.float32))], "hsig_affine", epsilon=0.0)
        lo = self.emit("Relu", [affine(xc, c, c * k)], "hsig_lo")
        hi = self.emit("Relu", [affine(xc, c, c * k - 6.0 * c)], "hsig_hi")
        return self.emit("Add", [lo, affine(hi, -1.0, 0.0)], "hsig")

    def op_RealDiv(self, name, ins, a):
        return self.binary("Div", ins, "div")

    def op_Maximum(self, name, ins, a):
        x_hi = self.clip_input(ins)
        if x_hi is not None:
            return self.emit("Clip", [self.value(x_hi[0]), self.const(np.float32(0)),
                                      self.const(np.float32(x_hi[1]))], "relu6")
        return self.binary("Max", ins, "max")

    def clip_input(self, ins):
        """(x, hi) if Maximum(ins) is max(min(relu(x), hi), lo) with constants
        lo <= 0 <= hi -- Keras' ReLU(max_value=6) as TF.js spells it -- which
        is clip(x, 0, hi). As one Clip, ONNX Runtime fuses it into the
        convolution before it (measured on faceres: 12.8 -> 8.7 ms per face)."""
        for p, q in ((0, 1), (1, 0)):
            lo, mn = self.scalar(ins[q]), self.tf_node(ins[p])
            if lo is None or lo > 0 or mn is None or mn["op"] != "Minimum":
                continue
            for r_, s_ in ((0, 1), (1, 0)):
                hi, relu = self.scalar(mn["input"][s_]), self.tf_node(mn["input"][r_])
                if hi is not None and hi >= 0 and relu is not None and relu["op"] == "Relu":
                    return relu["input"][0], hi
        return None

    def op_Minimum(self, name, ins, a):
        return self.binary("Min", ins, "min")

    # -- face-recognition models (MobileFaceNet, MobileFace) ---------------
    def op_Abs(self, name, ins, a):
        return self.emit("Abs", [self.value(ins[0])], "abs")

    def op_Square(self, name, ins, a):
        x = self.value(ins[0])
        return self.emit("Mul", [x, x], "square")

    def op_Rsqrt(self, name, ins, a):
        return self.emit("Reciprocal", [self.emit("Sqrt", [self.value(ins[0])], "sqrt")], "rsqrt")

    def op_Sum(self, name, ins, a):
        axes = np.atleast_1d(self.constval(ins[1])).astype(np.int64)
        return self.emit("ReduceSum", [self.value(ins[0]), self.const(axes)], "sum",
                         keepdims=1 if a.get("keep_dims") else 0)

    def op_Squeeze(self, name, ins, a):
        axes = a.get("squeeze_dims") or []
        if not axes:
            raise ConvertError("%s: Squeeze without squeeze_dims" % name)
        return self.emit("Squeeze", [self.value(ins[0]), self.const(np.array(axes, np.int64))],
                         "squeeze")

    def op_Pad(self, name, ins, a):
        # TF paddings [[before, after] per axis] -> ONNX [befores..., afters...]
        p = self.constval(ins[1]).astype(np.int64).reshape(-1, 2)
        pads = np.concatenate([p[:, 0], p[:, 1]])
        return self.emit("Pad", [self.value(ins[0]), self.const(pads)], "pad", mode="constant")

    def op_Equal(self, name, ins, a):
        y = self.binary("Equal", ins, "eq")
        self.dtypes[y] = TensorProto.BOOL
        return y

    def op_FloorDiv(self, name, ins, a):
        x, y = self.value(ins[0]), self.value(ins[1])
        t = self.dtypes.get(x)
        if t == TensorProto.FLOAT:
            return self.emit("Floor", [self.emit("Div", [x, y], "div")], "floordiv")
        xd = self.emit("Cast", [x], "xd", out_type=TensorProto.DOUBLE, to=TensorProto.DOUBLE)
        yd = self.emit("Cast", [y], "yd", out_type=TensorProto.DOUBLE, to=TensorProto.DOUBLE)
        q = self.emit("Floor", [self.emit("Div", [xd, yd], "div")], "floor")
        return self.emit("Cast", [q], "floordiv", out_type=t, to=t)

    def op_FloorMod(self, name, ins, a):
        return self.emit("Mod", [self.value(ins[0]), self.value(ins[1])], "mod", fmod=0)

    def op_Relu(self, name, ins, a):
        return self.activation(self.value(ins[0]), "Relu", a, name)

    def op_Relu6(self, name, ins, a):
        return self.activation(self.value(ins[0]), "Relu6", a, name)

    def op_Sigmoid(self, name, ins, a):
        return self.activation(self.value(ins[0]), "Sigmoid", a, name)

    def op_Softmax(self, name, ins, a):
        return self.emit("Softmax", [self.value(ins[0])], "softmax", axis=-1)

    def op_Mean(self, name, ins, a):
        axes = [int(v) for v in np.atleast_1d(self.constval(ins[1]))]
        if sorted(axes) == [1, 2] and a.get("keep_dims") and self.conv_channels(ins[0]):
            # The spatial mean of a feature map (squeeze-and-excite): as
            # GlobalAveragePool it stays in ONNX Runtime's NCHWc layout.
            return self.nhwc(self.emit("GlobalAveragePool", [self.nchw(self.value(ins[0]))], "gap"))
        return self.emit("ReduceMean", [self.value(ins[0])], "mean", axes=axes,
                         keepdims=1 if a.get("keep_dims") else 0)

    def op_Cast(self, name, ins, a):
        to = ONNX_OF_TF[a["DstT"]]
        return self.emit("Cast", [self.value(ins[0])], "cast", out_type=to, to=to)

    def op_Reshape(self, name, ins, a):
        shape = self.constval(ins[1]).astype(np.int64).reshape(-1)
        return self.emit("Reshape", [self.value(ins[0]), self.const(shape)], "reshape")

    def op_ExpandDims(self, name, ins, a):
        axes = np.atleast_1d(self.constval(ins[1])).astype(np.int64)
        return self.emit("Unsqueeze", [self.value(ins[0]), self.const(axes)], "unsqueeze")

    def op_ConcatV2(self, name, ins, a):
        axis = int(self.constval(ins[-1]))
        return self.emit("Concat", [self.value(i) for i in ins[:-1]], "concat", axis=axis)

    def op_GatherV2(self, name, ins, a):
        if int(a.get("batch_dims", 0)) != 0:
            raise ConvertError("%s: batch_dims" % name)
        axis = int(self.constval(ins[2]))
        return self.emit("Gather", [self.value(ins[0]), self.value(ins[1])], "gather", axis=axis)

    def op_TopKV2(self, name, ins, a):
        k = np.atleast_1d(self.constval(ins[1])).astype(np.int64)
        vals, idx = self.emit("TopK", [self.value(ins[0]), self.const(k)], "topk", n_out=2,
                              axis=-1, largest=1, sorted=1)
        self.dtypes[idx] = TensorProto.INT64
        idx32 = self.emit("Cast", [idx], "topk_idx", out_type=TensorProto.INT32, to=TensorProto.INT32)
        return [vals, idx32]

    def op_StridedSlice(self, name, ins, a):
        begin = [int(v) for v in self.constval(ins[1])]
        end = [int(v) for v in self.constval(ins[2])]
        strides = [int(v) for v in self.constval(ins[3])]
        if a.get("ellipsis_mask", 0) or a.get("new_axis_mask", 0):
            raise ConvertError("%s: ellipsis/new_axis masks not supported" % name)
        bm, em, sm = a.get("begin_mask", 0), a.get("end_mask", 0), a.get("shrink_axis_mask", 0)
        starts, ends, squeeze = [], [], []
        for i in range(len(begin)):
            neg = strides[i] < 0
            b = begin[i] if not (bm >> i) & 1 else (-1 if neg else 0)
            if (sm >> i) & 1:
                e = b + 1 if b != -1 else INT64_MAX
                squeeze.append(i)
            elif (em >> i) & 1:
                e = -INT64_MAX if neg else INT64_MAX
            else:
                e = end[i]
            starts.append(b)
            ends.append(e)
        y = self.emit("Slice", [self.value(ins[0]), self.const(np.array(starts, np.int64)),
                                self.const(np.array(ends, np.int64)),
                                self.const(np.arange(len(begin), dtype=np.int64)),
                                self.const(np.array(strides, np.int64))], "slice")
        if squeeze:
            y = self.emit("Squeeze", [y, self.const(np.array(squeeze, np.int64))], "squeeze")
        return y


# -- face-api (@vladmandic/face-api) weights-only models -----------------------
# face-api ships weights and a manifest, not a graph: the architecture is its
# JavaScript (src/faceFeatureExtractor, src/faceProcessor,
# src/faceExpressionNet). faceapi_expression_graph writes that architecture
# as a TF.js-style graph over the manifest's weights, so the same Converter
# (and its checks) turns it into ONNX. Transcribed from face-api 1.7.15:
#   FaceFeatureExtractor.forwardInput: x = (rgb - [122.782, 117.001, 104.298])
#     / 255 on the 112x112 batch; denseBlock4 x4 (dense0 first: a plain conv);
#     avgPool 7x7 stride 2 VALID
#   denseBlock4: out1 = relu(conv0(x, stride 2)); out2 = sep(out1, conv1);
#     out3 = sep(relu(out1 + out2), conv2);
#     out4 = sep(relu(out1 + (out2 + out3)), conv3);
#     relu(out1 + (out2 + (out3 + out4)))
#   sep (depthwiseSeparableConv): separableConv2d(depthwise, pointwise,
#     stride, SAME) + bias, i.e. depthwise SAME then 1x1 pointwise VALID
#   FaceProcessor.runNet: fc = matMul(features [N,256], fc/weights) + fc/bias;
#     FaceExpressionNet: softmax over neutral, happy, sad, angry, fearful,
#     disgusted, surprised.

def _attr_ints(v):
    return {"list": {"i": [str(i) for i in v]}}


def _attr_str(v):
    return {"s": base64.b64encode(v.encode()).decode()}


def faceapi_expression_graph(manifest):
    nodes, extra = [], {}

    def node(name, op, inputs, **attr):
        nodes.append({"name": name, "op": op, "input": inputs, "attr": attr})
        return name

    def const(name, arr):
        extra[name] = np.asarray(arr)
        return node(name, "Const", [])

    for g in manifest:
        for w in g["weights"]:
            node(w["name"], "Const", [])
    node("input", "Placeholder", [], dtype={"type": "DT_FLOAT"},
         shape={"shape": {"dim": [{"size": "-1"}, {"size": "112"}, {"size": "112"}, {"size": "3"}]}})
    x = node("normalize/sub", "Sub", ["input", const("normalize/mean",
                                                     np.array([122.782, 117.001, 104.298], np.float32))])
    x = node("normalize/div", "RealDiv", [x, const("normalize/255", np.float32(255))])
    same, valid = _attr_str("SAME"), _attr_str("VALID")

    def sep(p, x, stride):
        d = node(p + "/depthwise", "DepthwiseConv2dNative", [x, p + "/depthwise_filter"],
                 strides=_attr_ints([1, stride, stride, 1]), padding=same)
        c = node(p + "/pointwise", "Conv2D", [d, p + "/pointwise_filter"],
                 strides=_attr_ints([1, 1, 1, 1]), padding=valid)
        return node(p + "/add_bias", "BiasAdd", [c, p + "/bias"])

    for b in range(4):
        p = "dense%d" % b
        if b == 0:
            c0 = node(p + "/conv0/conv", "Conv2D", [x, p + "/conv0/filters"],
                      strides=_attr_ints([1, 2, 2, 1]), padding=same)
            c0 = node(p + "/conv0/add_bias", "BiasAdd", [c0, p + "/conv0/bias"])
        else:
            c0 = sep(p + "/conv0", x, 2)
        out1 = node(p + "/out1", "Relu", [c0])
        out2 = sep(p + "/conv1", out1, 1)
        in3 = node(p + "/in3", "Relu", [node(p + "/add12", "Add", [out1, out2])])
        out3 = sep(p + "/conv2", in3, 1)
        s23 = node(p + "/add23", "Add", [out2, out3])
        in4 = node(p + "/in4", "Relu", [node(p + "/add123", "Add", [out1, s23])])
        out4 = sep(p + "/conv3", in4, 1)
        s34 = node(p + "/add34", "Add", [out3, out4])
        s234 = node(p + "/add234", "Add", [out2, s34])
        x = node(p + "/out", "Relu", [node(p + "/add1234", "Add", [out1, s234])])
    x = node("avgpool", "AvgPool", [x], ksize=_attr_ints([1, 7, 7, 1]),
             strides=_attr_ints([1, 2, 2, 1]), padding=valid)
    x = node("features", "Reshape", [x, const("features/shape", np.array([-1, 256], np.int32))])
    x = node("fc/matmul", "MatMul", [x, "fc/weights"])
    x = node("fc/add_bias", "BiasAdd", [x, "fc/bias"])
    node("expressions", "Softmax", [x])
    model_json = {"modelTopology": {"node": nodes}, "weightsManifest": manifest,
                  "signature": {"outputs": {"expressions": {"name": "expressions", "tensorShape": {
                      "dim": [{"size": "-1"}, {"size": "7"}]}}}}}
    return model_json, extra


FACEAPI_GRAPHS = {"face_expression": faceapi_expression_graph}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_json")
    ap.add_argument("out_onnx")
    ap.add_argument("--outputs", help="comma-separated TF output tensors, in the ONNX output order "
                                      "(default: the model signature's outputs)")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--faceapi", choices=sorted(FACEAPI_GRAPHS),
                    help="MODEL_JSON is a face-api weights manifest; build that network's graph")
    args = ap.parse_args()

    model_json = json.load(open(args.model_json))
    extra = {}
    if args.faceapi:
        model_json, extra = FACEAPI_GRAPHS[args.faceapi](model_json)
    weights = load_weights(model_json, os.path.dirname(os.path.abspath(args.model_json)))
    weights.update(extra)
    sig = model_json.get("signature") or model_json.get("userDefinedMetadata", {}).get("signature") or {}
    sig_shapes = {}
    for k, v in sig.get("outputs", {}).items():
        dims = [int(d.get("size", -1)) for d in v.get("tensorShape", {}).get("dim", [])]
        sig_shapes[k.split(":")[0]] = [d if d >= 0 else "N" for d in dims]
    if args.outputs:
        outputs = args.outputs.split(",")
    else:
        if not sig:
            raise ConvertError("no signature: pass --outputs")
        outputs = [v["name"] for v in sig["outputs"].values()]
    conv = Converter(model_json, weights, args.opset)
    conv.convert(outputs)
    graph_outputs = []
    for o in outputs:
        tfname = o.split(":")[0]
        src = conv.value(tfname)
        conv.onnx_nodes.append(helper.make_node("Identity", [src], [o]))
        # An inner tensor exposed for a learned head (a feature map, NHWC)
        # has no shape in the signature: rank 4, sizes left to ONNX Runtime.
        graph_outputs.append(helper.make_tensor_value_info(o, conv.dtypes.get(src) or TensorProto.FLOAT,
                                                           sig_shapes.get(tfname, [None] * 4)))
    # Drop what no output needs (the pieces of rewritten patterns).
    needed, live = {o for o in outputs}, []
    for n in reversed(conv.onnx_nodes):
        if any(o in needed for o in n.output):
            live.append(n)
            needed.update(i for i in n.input if i)
    conv.onnx_nodes = live[::-1]
    conv.initializers = [t for t in conv.initializers if t.name in needed]
    graph = helper.make_graph(conv.onnx_nodes, os.path.basename(args.model_json), conv.inputs,
                              graph_outputs, conv.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", args.opset)],
                              producer_name="scry-tfjs2onnx", producer_version="1")
    model.ir_version = 8
    onnx.checker.check_model(model)
    tmp = args.out_onnx + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, args.out_onnx)
    ops = sorted({n.op_type for n in conv.onnx_nodes})
    print("tfjs2onnx: %s -> %s (%d nodes, %d initializers; ops %s)" % (
        args.model_json, args.out_onnx, len(conv.onnx_nodes), len(conv.initializers), ",".join(ops)))


if __name__ == "__main__":
    try:
        main()
    except ConvertError as e:
        print("tfjs2onnx: error: %s" % e, file=sys.stderr)
        sys.exit(1)
