/**
 * Naive reference implementations of Keras layers, written for the tests with
 * plain loops over NHWC tensors and double-precision arithmetic. They follow the
 * formulas in the Keras and TensorFlow documentation, independently of the
 * converter, so a converter bug cannot cancel itself out in a comparison.
 */

export interface Tensor {
  shape: number[];
  data: Float64Array;
}

export function tensor(shape: number[], data: ArrayLike<number>): Tensor {
  const size = shape.reduce((product, dim) => product * dim, 1);
  if (data.length !== size) throw new RangeError(`tensor data has ${data.length} values, shape [${shape.join(', ')}] needs ${size}`);
  return { shape: [...shape], data: Float64Array.from(data) };
}

function zeros(shape: number[]): Tensor {
  return { shape, data: new Float64Array(shape.reduce((product, dim) => product * dim, 1)) };
}

/** Deterministic uniform random numbers in [low, high) (mulberry32). */
export function randomTensor(shape: number[], seed: number, low = -1, high = 1): Tensor {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const size = shape.reduce((product, dim) => product * dim, 1);
  return { shape: [...shape], data: Float64Array.from({ length: size }, () => low + (high - low) * next()) };
}

export function toFloat32(value: Tensor): Float32Array {
  return Float32Array.from(value.data);
}

// ---------------------------------------------------------------- windows

export type Padding = 'valid' | 'same';

interface AxisWindow {
  out: number;
  padBefore: number;
}

/** TensorFlow's output size and leading pad for one spatial axis. */
function axisWindow(size: number, kernel: number, stride: number, dilation: number, padding: Padding): AxisWindow {
  const effective = (kernel - 1) * dilation + 1;
  if (padding === 'valid') return { out: Math.floor((size - effective) / stride) + 1, padBefore: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  return { out, padBefore: Math.floor(total / 2) };
}

export interface ConvOptions {
  strides?: [number, number];
  dilation?: [number, number];
  padding?: Padding;
  groups?: number;
}

/** Conv2D: input [n, h, w, cin], kernel [kh, kw, cin / groups, cout], bias [cout]. */
export function conv2d(input: Tensor, kernel: Tensor, bias: Tensor | null, options: ConvOptions = {}): Tensor {
  const [n, h, w, cin] = input.shape as [number, number, number, number];
  const [kh, kw, groupIn, cout] = kernel.shape as [number, number, number, number];
  const [sh, sw] = options.strides ?? [1, 1];
  const [dh, dw] = options.dilation ?? [1, 1];
  const groups = options.groups ?? 1;
  const groupOut = cout / groups;
  if (groupIn * groups !== cin) throw new RangeError('kernel input channels do not match');
  const rows = axisWindow(h, kh, sh, dh, options.padding ?? 'valid');
  const cols = axisWindow(w, kw, sw, dw, options.padding ?? 'valid');
  const out = zeros([n, rows.out, cols.out, cout]);
  for (let b = 0; b < n; b += 1) {
    for (let oy = 0; oy < rows.out; oy += 1) {
      for (let ox = 0; ox < cols.out; ox += 1) {
        for (let o = 0; o < cout; o += 1) {
          const group = Math.floor(o / groupOut);
          let sum = bias === null ? 0 : bias.data[o] ?? 0;
          for (let ky = 0; ky < kh; ky += 1) {
            const y = oy * sh - rows.padBefore + ky * dh;
            if (y < 0 || y >= h) continue;
            for (let kx = 0; kx < kw; kx += 1) {
              const x = ox * sw - cols.padBefore + kx * dw;
              if (x < 0 || x >= w) continue;
              for (let i = 0; i < groupIn; i += 1) {
                const c = group * groupIn + i;
                sum += (input.data[((b * h + y) * w + x) * cin + c] ?? 0) * (kernel.data[((ky * kw + kx) * groupIn + i) * cout + o] ?? 0);
              }
            }
          }
          out.data[((b * rows.out + oy) * cols.out + ox) * cout + o] = sum;
        }
      }
    }
  }
  return out;
}

/** DepthwiseConv2D: kernel [kh, kw, c, multiplier]; output channel c * multiplier + m. */
export function depthwiseConv2d(input: Tensor, kernel: Tensor, bias: Tensor | null, options: ConvOptions = {}): Tensor {
  const [n, h, w, c] = input.shape as [number, number, number, number];
  const [kh, kw, , multiplier] = kernel.shape as [number, number, number, number];
  const [sh, sw] = options.strides ?? [1, 1];
  const [dh, dw] = options.dilation ?? [1, 1];
  const rows = axisWindow(h, kh, sh, dh, options.padding ?? 'valid');
  const cols = axisWindow(w, kw, sw, dw, options.padding ?? 'valid');
  const cout = c * multiplier;
  const out = zeros([n, rows.out, cols.out, cout]);
  for (let b = 0; b < n; b += 1) {
    for (let oy = 0; oy < rows.out; oy += 1) {
      for (let ox = 0; ox < cols.out; ox += 1) {
        for (let channel = 0; channel < c; channel += 1) {
          for (let m = 0; m < multiplier; m += 1) {
            const o = channel * multiplier + m;
            let sum = bias === null ? 0 : bias.data[o] ?? 0;
            for (let ky = 0; ky < kh; ky += 1) {
              const y = oy * sh - rows.padBefore + ky * dh;
              if (y < 0 || y >= h) continue;
              for (let kx = 0; kx < kw; kx += 1) {
                const x = ox * sw - cols.padBefore + kx * dw;
                if (x < 0 || x >= w) continue;
                sum += (input.data[((b * h + y) * w + x) * c + channel] ?? 0) * (kernel.data[((ky * kw + kx) * c + channel) * multiplier + m] ?? 0);
              }
            }
            out.data[((b * rows.out + oy) * cols.out + ox) * cout + o] = sum;
          }
        }
      }
    }
  }
  return out;
}

/** SeparableConv2D: depthwise with the layer's padding, then a 1x1 pointwise conv and the bias. */
export function separableConv2d(input: Tensor, depthwise: Tensor, pointwise: Tensor, bias: Tensor | null, options: ConvOptions = {}): Tensor {
  return conv2d(depthwiseConv2d(input, depthwise, null, options), pointwise, bias);
}

export interface PoolOptions {
  pool: [number, number];
  strides?: [number, number];
  padding?: Padding;
}

/** Max or average pooling; TensorFlow's 'same' average divides by the count of real pixels. */
export function pool2d(input: Tensor, kind: 'max' | 'average', options: PoolOptions): Tensor {
  const [n, h, w, c] = input.shape as [number, number, number, number];
  const [ph, pw] = options.pool;
  const [sh, sw] = options.strides ?? options.pool;
  const rows = axisWindow(h, ph, sh, 1, options.padding ?? 'valid');
  const cols = axisWindow(w, pw, sw, 1, options.padding ?? 'valid');
  const out = zeros([n, rows.out, cols.out, c]);
  for (let b = 0; b < n; b += 1) {
    for (let oy = 0; oy < rows.out; oy += 1) {
      for (let ox = 0; ox < cols.out; ox += 1) {
        for (let channel = 0; channel < c; channel += 1) {
          let best = -Infinity;
          let sum = 0;
          let count = 0;
          for (let ky = 0; ky < ph; ky += 1) {
            const y = oy * sh - rows.padBefore + ky;
            if (y < 0 || y >= h) continue;
            for (let kx = 0; kx < pw; kx += 1) {
              const x = ox * sw - cols.padBefore + kx;
              if (x < 0 || x >= w) continue;
              const value = input.data[((b * h + y) * w + x) * c + channel] ?? 0;
              best = Math.max(best, value);
              sum += value;
              count += 1;
            }
          }
          out.data[((b * rows.out + oy) * cols.out + ox) * c + channel] = kind === 'max' ? best : sum / count;
        }
      }
    }
  }
  return out;
}

export function globalPool2d(input: Tensor, kind: 'max' | 'average', keepDims = false): Tensor {
  const [n, h, w, c] = input.shape as [number, number, number, number];
  const out = zeros(keepDims ? [n, 1, 1, c] : [n, c]);
  for (let b = 0; b < n; b += 1) {
    for (let channel = 0; channel < c; channel += 1) {
      let best = -Infinity;
      let sum = 0;
      for (let i = 0; i < h * w; i += 1) {
        const value = input.data[(b * h * w + i) * c + channel] ?? 0;
        best = Math.max(best, value);
        sum += value;
      }
      out.data[b * c + channel] = kind === 'max' ? best : sum / (h * w);
    }
  }
  return out;
}

// ---------------------------------------------------------------- dense, shape

/** Dense on the last axis: kernel [in, units]. */
export function dense(input: Tensor, kernel: Tensor, bias: Tensor | null): Tensor {
  const inFeatures = input.shape[input.shape.length - 1] ?? 0;
  const units = kernel.shape[1] ?? 0;
  const rows = input.data.length / inFeatures;
  const out = zeros([...input.shape.slice(0, -1), units]);
  for (let r = 0; r < rows; r += 1) {
    for (let u = 0; u < units; u += 1) {
      let sum = bias === null ? 0 : bias.data[u] ?? 0;
      for (let i = 0; i < inFeatures; i += 1) sum += (input.data[r * inFeatures + i] ?? 0) * (kernel.data[i * units + u] ?? 0);
      out.data[r * units + u] = sum;
    }
  }
  return out;
}

/** Flatten keeps NHWC element order (height, width, channels), as Keras does. */
export function flatten(input: Tensor): Tensor {
  const batch = input.shape[0] ?? 1;
  return { shape: [batch, input.data.length / batch], data: input.data.slice() };
}

export function reshape(input: Tensor, shape: number[]): Tensor {
  return { shape: [...shape], data: input.data.slice() };
}

export function zeroPad2d(input: Tensor, top: number, bottom: number, left: number, right: number): Tensor {
  const [n, h, w, c] = input.shape as [number, number, number, number];
  const oh = h + top + bottom;
  const ow = w + left + right;
  const out = zeros([n, oh, ow, c]);
  for (let b = 0; b < n; b += 1) {
    for (let y = 0; y < h; y += 1) {
      for (let x = 0; x < w; x += 1) {
        for (let channel = 0; channel < c; channel += 1) {
          out.data[((b * oh + y + top) * ow + x + left) * c + channel] = input.data[((b * h + y) * w + x) * c + channel] ?? 0;
        }
      }
    }
  }
  return out;
}

export function concatenate(inputs: Tensor[], axis: number): Tensor {
  const first = inputs[0];
  if (first === undefined) throw new RangeError('nothing to concatenate');
  const rank = first.shape.length;
  const positive = axis < 0 ? axis + rank : axis;
  const outer = first.shape.slice(0, positive).reduce((product, dim) => product * dim, 1);
  const shape = [...first.shape];
  shape[positive] = inputs.reduce((sum, input) => sum + (input.shape[positive] ?? 0), 0);
  const out: number[] = [];
  for (let o = 0; o < outer; o += 1) {
    for (const input of inputs) {
      const block = input.data.length / outer;
      out.push(...input.data.subarray(o * block, (o + 1) * block));
    }
  }
  return tensor(shape, out);
}

/** Element-wise combination with numpy broadcasting of equal-rank shapes. */
export function broadcastBinary(left: Tensor, right: Tensor, combine: (a: number, b: number) => number): Tensor {
  const shape = left.shape.map((dim, axis) => Math.max(dim, right.shape[axis] ?? 1));
  const out = zeros(shape);
  const index = (value: Tensor, position: number[]): number =>
    position.reduce((flat, coordinate, axis) => flat * (value.shape[axis] ?? 1) + ((value.shape[axis] ?? 1) === 1 ? 0 : coordinate), 0);
  for (let flat = 0; flat < out.data.length; flat += 1) {
    const position: number[] = [];
    let rest = flat;
    for (let axis = shape.length - 1; axis >= 0; axis -= 1) {
      const dim = shape[axis] ?? 1;
      position.unshift(rest % dim);
      rest = Math.floor(rest / dim);
    }
    out.data[flat] = combine(left.data[index(left, position)] ?? 0, right.data[index(right, position)] ?? 0);
  }
  return out;
}

// ---------------------------------------------------------------- activations

export function map(input: Tensor, f: (value: number) => number): Tensor {
  return { shape: [...input.shape], data: input.data.map(f) };
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Computes erf by its Maclaurin series below 3 and a continued fraction above (agrees with tabulated values to about 1e-13). */
export function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  if (a < 3) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 80; n += 1) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return sign * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let fraction = 0;
  for (let n = 60; n >= 1; n -= 1) fraction = (n / 2) / (a + fraction);
  return sign * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + fraction));
}

/** Keras activation functions by name; `kerasMajor` picks the hard_sigmoid definition. */
export function activation(name: string, kerasMajor = 2): (x: number) => number {
  switch (name) {
    case 'linear': return (x) => x;
    case 'relu': return (x) => Math.max(0, x);
    case 'relu6': return (x) => Math.min(Math.max(0, x), 6);
    case 'sigmoid': return sigmoid;
    case 'tanh': return Math.tanh;
    case 'swish':
    case 'silu': return (x) => x * sigmoid(x);
    case 'hard_sigmoid':
      return kerasMajor >= 3 ? (x) => Math.min(Math.max(x + 3, 0), 6) / 6 : (x) => Math.min(Math.max(0.2 * x + 0.5, 0), 1);
    case 'hard_silu':
    case 'hard_swish': return (x) => (x * Math.min(Math.max(x + 3, 0), 6)) / 6;
    case 'elu': return (x) => (x > 0 ? x : Math.exp(x) - 1);
    case 'selu': return (x) => 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (Math.exp(x) - 1));
    case 'softplus': return (x) => Math.log1p(Math.exp(x));
    case 'softsign': return (x) => x / (1 + Math.abs(x));
    case 'exponential': return Math.exp;
    case 'leaky_relu': return (x) => (x >= 0 ? x : 0.2 * x);
    case 'gelu': return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'mish': return (x) => x * Math.tanh(Math.log1p(Math.exp(x)));
    default: throw new RangeError(`no reference for activation ${name}`);
  }
}

/** Softmax (or log-softmax) over the last axis. */
export function softmax(input: Tensor, log = false): Tensor {
  const size = input.shape[input.shape.length - 1] ?? 1;
  const out = zeros([...input.shape]);
  for (let start = 0; start < input.data.length; start += size) {
    const row = Array.from(input.data.subarray(start, start + size));
    const max = Math.max(...row);
    const exps = row.map((value) => Math.exp(value - max));
    const total = exps.reduce((sum, value) => sum + value, 0);
    row.forEach((value, index) => {
      out.data[start + index] = log ? value - max - Math.log(total) : (exps[index] ?? 0) / total;
    });
  }
  return out;
}

/** Keras' backend relu(x, negative_slope, max_value, threshold), step by step as Keras computes it. */
export function kerasRelu(x: number, options: { maxValue?: number | null; slope?: number; threshold?: number }): number {
  const slope = options.slope ?? 0;
  const threshold = options.threshold ?? 0;
  const maxValue = options.maxValue ?? null;
  if (slope !== 0 && maxValue === null && threshold === 0) return x >= 0 ? x : slope * x;
  const negativePart = slope !== 0 ? Math.max(0, threshold - x) : 0;
  let y: number;
  if (threshold !== 0) y = x > threshold ? x : 0;
  else y = Math.max(0, x);
  if (maxValue !== null) y = Math.min(Math.max(y, 0), maxValue);
  return y - slope * negativePart;
}

// ---------------------------------------------------------------- normalization

/** BatchNormalization at inference along `axis`. */
export function batchNorm(input: Tensor, axis: number, stats: { gamma?: Tensor; beta?: Tensor; mean: Tensor; variance: Tensor; epsilon: number }): Tensor {
  const rank = input.shape.length;
  const positive = axis < 0 ? axis + rank : axis;
  const size = input.shape[positive] ?? 1;
  const inner = input.shape.slice(positive + 1).reduce((product, dim) => product * dim, 1);
  return {
    shape: [...input.shape],
    data: input.data.map((value, flat) => {
      const c = Math.floor(flat / inner) % size;
      const gamma = stats.gamma?.data[c] ?? 1;
      const beta = stats.beta?.data[c] ?? 0;
      return ((value - (stats.mean.data[c] ?? 0)) / Math.sqrt((stats.variance.data[c] ?? 0) + stats.epsilon)) * gamma + beta;
    }),
  };
}

/** Normalization: (x - mean) / max(sqrt(variance), 1e-7), per channel (last axis) or with one value for all. */
export function normalize(input: Tensor, mean: number[], variance: number[]): Tensor {
  const size = input.shape[input.shape.length - 1] ?? 1;
  const pick = (values: number[], flat: number): number => values[values.length === 1 ? 0 : flat % size] ?? 0;
  return {
    shape: [...input.shape],
    data: input.data.map((value, flat) => (value - pick(mean, flat)) / Math.max(Math.sqrt(pick(variance, flat)), 1e-7)),
  };
}

// ---------------------------------------------------------------- resizing

/** tf.image.resize bilinear without antialiasing (half-pixel centres, edges clamped). */
export function resizeBilinear(input: Tensor, outHeight: number, outWidth: number): Tensor {
  const [n, h, w, c] = input.shape as [number, number, number, number];
  const out = zeros([n, outHeight, outWidth, c]);
  const source = (index: number, inSize: number, outSize: number): [number, number, number] => {
    const position = Math.max((index + 0.5) * (inSize / outSize) - 0.5, 0);
    const low = Math.min(Math.floor(position), inSize - 1);
    const high = Math.min(low + 1, inSize - 1);
    return [low, high, position - Math.floor(position)];
  };
  for (let b = 0; b < n; b += 1) {
    for (let y = 0; y < outHeight; y += 1) {
      const [y0, y1, fy] = source(y, h, outHeight);
      for (let x = 0; x < outWidth; x += 1) {
        const [x0, x1, fx] = source(x, w, outWidth);
        for (let channel = 0; channel < c; channel += 1) {
          const at = (yy: number, xx: number): number => input.data[((b * h + yy) * w + xx) * c + channel] ?? 0;
          const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
          const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
          out.data[((b * outHeight + y) * outWidth + x) * c + channel] = top + (bottom - top) * fy;
        }
      }
    }
  }
  return out;
}

/** tf.image.resize nearest: source = min(floor((out + 0.5) * in / out), in - 1). */
export function resizeNearest(input: Tensor, outHeight: number, outWidth: number): Tensor {
  const [n, h, w, c] = input.shape as [number, number, number, number];
  const out = zeros([n, outHeight, outWidth, c]);
  for (let b = 0; b < n; b += 1) {
    for (let y = 0; y < outHeight; y += 1) {
      const sy = Math.min(Math.floor((y + 0.5) * (h / outHeight)), h - 1);
      for (let x = 0; x < outWidth; x += 1) {
        const sx = Math.min(Math.floor((x + 0.5) * (w / outWidth)), w - 1);
        for (let channel = 0; channel < c; channel += 1) {
          out.data[((b * outHeight + y) * outWidth + x) * c + channel] = input.data[((b * h + sy) * w + sx) * c + channel] ?? 0;
        }
      }
    }
  }
  return out;
}
