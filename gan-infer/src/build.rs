//! Building model files from float networks (feature `std`; host side): the f32 reference
//! forward pass, activation-range calibration, per-channel int8 quantization, f16 conversion,
//! and encoding. The exporter of `gan-train-host` and this crate's tests both use it, so there
//! is one quantizer.

use std::vec;
use std::vec::Vec;

use crate::format::writer::{encode_layers, encode_model};
use crate::format::{
    arena_needed, out_channels, Activation, Layer, LayerQuant, ModelDesc, NetworkDesc, Op,
    Precision, Shape, TensorQuant,
};
use crate::kernels::{activate_f32, run_op, F32Weights, FloatArith};
use crate::quant::quantize_multiplier;

/// A layer with f32 weights (PyTorch layouts), BatchNorm already folded into weights and bias.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatLayer {
    /// Operator.
    pub op: Op,
    /// Input shape.
    pub input: Shape,
    /// Output shape.
    pub output: Shape,
    /// Activation.
    pub activation: Activation,
    /// Weights, PyTorch layout.
    pub weights: Vec<f32>,
    /// One bias per output channel (empty for Reshape).
    pub bias: Vec<f32>,
}

/// A generator or discriminator with f32 weights.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatNetwork {
    /// Generator latent length (0 for a discriminator).
    pub latent_dim: u16,
    /// Classes for conditioning (0 = unconditional).
    pub num_classes: u16,
    /// Input shape (see [`NetworkDesc::input`]).
    pub input: Shape,
    /// Layers.
    pub layers: Vec<FloatLayer>,
}

/// How activation ranges are taken from calibration data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RangeMethod {
    /// Smallest and largest value seen.
    MinMax,
    /// Symmetric percentile of the values seen (e.g. 99.99), clipping rare outliers.
    Percentile(f64),
}

/// Per layer: `(min, max)` of the pre-activation and of the output.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// `(pre_min, pre_max, out_min, out_max)` per layer.
    pub ranges: Vec<(f32, f32, f32, f32)>,
}

fn f32_le(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl FloatLayer {
    /// The layer's pre-activation output for `x` (f32, using this crate's kernels).
    pub fn pre_activation(&self, x: &[f32]) -> Vec<f32> {
        if self.op == Op::Reshape {
            return x.to_vec();
        }
        let (xb, wb, bb) = (f32_le(x), f32_le(&self.weights), f32_le(&self.bias));
        let a = FloatArith {
            x: &xb,
            w: F32Weights(&wb),
            bias: &bb,
            activation: Activation::Identity,
        };
        let mut out = vec![0u8; 4 * self.output.len()];
        run_op(self.op, self.input, self.output, &a, &mut out);
        out.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }
}

impl FloatNetwork {
    /// Runs the network on one input; returns every layer's (pre-activation, output).
    pub fn forward_trace(&self, input: &[f32]) -> Vec<(Vec<f32>, Vec<f32>)> {
        let mut x = input.to_vec();
        let mut trace = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            let pre = l.pre_activation(&x);
            let out: Vec<f32> = pre.iter().map(|&v| activate_f32(l.activation, v)).collect();
            x = out.clone();
            trace.push((pre, out));
        }
        trace
    }

    /// Runs the network on one input; returns the output.
    pub fn forward(&self, input: &[f32]) -> Vec<f32> {
        self.forward_trace(input)
            .pop()
            .map(|t| t.1)
            .unwrap_or_default()
    }

    /// Activation ranges over `inputs`.
    pub fn calibrate(&self, inputs: &[Vec<f32>], method: RangeMethod) -> Calibration {
        let n = self.layers.len();
        let mut pre: Vec<Vec<f32>> = vec![Vec::new(); n];
        let mut post: Vec<Vec<f32>> = vec![Vec::new(); n];
        for x in inputs {
            for (i, (p, o)) in self.forward_trace(x).into_iter().enumerate() {
                pre[i].extend(p);
                post[i].extend(o);
            }
        }
        let range = |v: &mut Vec<f32>| -> (f32, f32) {
            if v.is_empty() {
                return (0.0, 0.0);
            }
            v.sort_by(|a, b| a.total_cmp(b));
            match method {
                RangeMethod::MinMax => (v[0], v[v.len() - 1]),
                RangeMethod::Percentile(p) => {
                    let tail = ((1.0 - p / 100.0) * v.len() as f64).floor() as usize;
                    let tail = tail.min((v.len() - 1) / 2);
                    (v[tail], v[v.len() - 1 - tail])
                }
            }
        };
        let ranges = (0..n)
            .map(|i| {
                let (a, b) = range(&mut pre[i]);
                let (c, d) = range(&mut post[i]);
                (a, b, c, d)
            })
            .collect();
        Calibration { ranges }
    }
}

/// Asymmetric int8 quantization of the range `[lo, hi]` (widened to contain 0).
pub fn tensor_quant(lo: f32, hi: f32) -> TensorQuant {
    let (lo, hi) = (lo.min(0.0) as f64, hi.max(0.0) as f64);
    let span = (hi - lo).max(1e-8);
    let scale = span / 255.0;
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0);
    TensorQuant {
        scale: scale as f32,
        zero_point: zp as i8,
    }
}

/// The owned bytes of one encoded network (borrowed by the [`NetworkDesc`] it makes).
#[derive(Clone, Debug)]
pub struct EncodedNetwork {
    precision: Precision,
    input: Shape,
    latent_dim: u16,
    num_classes: u16,
    input_quant: Option<TensorQuant>,
    one_hot_q: i8,
    arena_bytes: u32,
    layer_count: u16,
    layers: Vec<u8>,
}

impl EncodedNetwork {
    /// The descriptor, borrowing this network's bytes.
    pub fn desc(&self) -> NetworkDesc<'_> {
        NetworkDesc {
            precision: self.precision,
            input: self.input,
            latent_dim: self.latent_dim,
            num_classes: self.num_classes,
            input_quant: self.input_quant,
            one_hot_q: self.one_hot_q,
            arena_bytes: self.arena_bytes,
            layer_count: self.layer_count,
            layers: &self.layers,
        }
    }
}

/// Input quantization the device expects: a generator's latent at scale 2^-5 (range ±4),
/// a discriminator's image at 1/127.5 (`q = pixel - 128`).
pub fn input_quant(is_generator: bool) -> TensorQuant {
    if is_generator {
        TensorQuant {
            scale: 1.0 / 32.0,
            zero_point: 0,
        }
    } else {
        TensorQuant {
            scale: 1.0 / 127.5,
            zero_point: 0,
        }
    }
}

struct OwnedLayer {
    op: Op,
    input: Shape,
    output: Shape,
    activation: Activation,
    weights: Vec<u8>,
    bias: Vec<u8>,
    quant: Option<OwnedQuant>,
}

/// The owned arrays of a [`LayerQuant`].
struct OwnedQuant {
    input: TensorQuant,
    output: TensorQuant,
    requant_zero_point: i8,
    multiplier: Vec<u8>,
    shift: Vec<u8>,
    neg_multiplier: Vec<u8>,
    neg_shift: Vec<u8>,
    lut: Vec<u8>,
}

fn quantize_layer(
    l: &FloatLayer,
    q_in: TensorQuant,
    range: (f32, f32, f32, f32),
    q_out_fixed: Option<TensorQuant>,
) -> OwnedLayer {
    let cout = out_channels(&Layer {
        op: l.op,
        input: l.input,
        output: l.output,
        activation: l.activation,
        weights: &[],
        bias: &[],
        quant: None,
    });
    let table = matches!(l.activation, Activation::Tanh | Activation::Sigmoid);
    // Output quantization (fixed for the network's last layer) and, for tables, the
    // intermediate quantization of the pre-activation.
    let q_out = q_out_fixed.unwrap_or_else(|| match l.activation {
        Activation::Tanh => TensorQuant {
            scale: 1.0 / 128.0,
            zero_point: 0,
        },
        Activation::Sigmoid => TensorQuant {
            scale: 1.0 / 256.0,
            zero_point: -128,
        },
        _ => tensor_quant(range.2, range.3),
    });
    let q_req = if table {
        tensor_quant(range.0, range.1)
    } else {
        q_out
    };
    if l.op == Op::Reshape {
        return OwnedLayer {
            op: l.op,
            input: l.input,
            output: l.output,
            activation: l.activation,
            weights: Vec::new(),
            bias: Vec::new(),
            quant: Some(OwnedQuant {
                input: q_in,
                output: q_in,
                requant_zero_point: q_in.zero_point,
                multiplier: vec![],
                shift: vec![],
                neg_multiplier: vec![],
                neg_shift: vec![],
                lut: vec![],
            }),
        };
    }
    // Per output channel symmetric weight scales. Linear/Conv2d: channel = dim 0;
    // ConvTranspose2d ([in, out, k, k]): channel = dim 1.
    let per = l.weights.len() / cout.max(1);
    let channel_of = |i: usize| -> usize {
        match l.op {
            Op::ConvTranspose2d { kernel, .. } => {
                let kk = kernel as usize * kernel as usize;
                (i / kk) % cout
            }
            _ => i / per,
        }
    };
    let mut absmax = vec![0f32; cout];
    for (i, &w) in l.weights.iter().enumerate() {
        let c = channel_of(i);
        absmax[c] = absmax[c].max(w.abs());
    }
    let s_w: Vec<f64> = absmax
        .iter()
        .map(|&m| if m > 0.0 { m as f64 / 127.0 } else { 1.0 })
        .collect();
    let weights: Vec<u8> = l
        .weights
        .iter()
        .enumerate()
        .map(|(i, &w)| ((w as f64 / s_w[channel_of(i)]).round().clamp(-127.0, 127.0) as i8) as u8)
        .collect();
    let s_in = q_in.scale as f64;
    let mut bias = Vec::with_capacity(4 * cout);
    let (mut mult, mut shift, mut neg_mult, mut neg_shift) = (vec![], vec![], vec![], vec![]);
    for (c, &sw) in s_w.iter().enumerate() {
        let b = (l.bias[c] as f64 / (s_in * sw))
            .round()
            .clamp(i32::MIN as f64, i32::MAX as f64) as i32;
        bias.extend_from_slice(&b.to_le_bytes());
        let real = s_in * sw / q_req.scale as f64;
        let (m, n) = quantize_multiplier(real);
        mult.extend_from_slice(&m.to_le_bytes());
        shift.push(n);
        if let Activation::LeakyRelu { slope } = l.activation {
            let (m, n) = quantize_multiplier(real * slope as f64);
            neg_mult.extend_from_slice(&m.to_le_bytes());
            neg_shift.push(n);
        }
    }
    let lut: Vec<u8> = if table {
        (0..256)
            .map(|i| {
                let x = q_req.scale as f64 * (i as f64 - 128.0 - q_req.zero_point as f64);
                let y = match l.activation {
                    Activation::Tanh => x.tanh(),
                    _ => 1.0 / (1.0 + (-x).exp()),
                };
                let q = (y / q_out.scale as f64).round() + q_out.zero_point as f64;
                (q.clamp(-128.0, 127.0) as i8) as u8
            })
            .collect()
    } else {
        Vec::new()
    };
    OwnedLayer {
        op: l.op,
        input: l.input,
        output: l.output,
        activation: l.activation,
        weights,
        bias,
        quant: Some(OwnedQuant {
            input: q_in,
            output: q_out,
            requant_zero_point: q_req.zero_point,
            multiplier: mult,
            shift,
            neg_multiplier: neg_mult,
            neg_shift,
            lut,
        }),
    }
}

/// Encodes a float network at `precision`. int8 needs a calibration of the same network;
/// `is_generator` selects the fixed input/output quantization of the role.
pub fn encode_network(
    net: &FloatNetwork,
    is_generator: bool,
    precision: Precision,
    calibration: Option<&Calibration>,
) -> Result<EncodedNetwork, &'static str> {
    let mut owned = Vec::with_capacity(net.layers.len());
    let (input_quant, one_hot_q) = match precision {
        Precision::I8 => {
            let cal = calibration.ok_or("int8 export needs a calibration")?;
            if cal.ranges.len() != net.layers.len() {
                return Err("calibration does not match the network");
            }
            let q = input_quant(is_generator);
            let one = (1.0 / q.scale).round().min(127.0) as i8;
            let mut q_in = q;
            let last = net.layers.len() - 1;
            for (i, l) in net.layers.iter().enumerate() {
                let fixed = (i == last).then(|| {
                    if is_generator {
                        TensorQuant {
                            scale: 1.0 / 128.0,
                            zero_point: 0,
                        }
                    } else {
                        TensorQuant {
                            scale: 1.0 / 256.0,
                            zero_point: -128,
                        }
                    }
                });
                let ol = quantize_layer(l, q_in, cal.ranges[i], fixed);
                q_in = ol.quant.as_ref().map(|q| q.output).unwrap_or(q_in);
                owned.push(ol);
            }
            (Some(q), one)
        }
        Precision::F16 | Precision::F32 => {
            for l in &net.layers {
                let weights = if precision == Precision::F16 {
                    l.weights
                        .iter()
                        .flat_map(|&w| half::f16::from_f32(w).to_bits().to_le_bytes())
                        .collect()
                } else {
                    f32_le(&l.weights)
                };
                owned.push(OwnedLayer {
                    op: l.op,
                    input: l.input,
                    output: l.output,
                    activation: l.activation,
                    weights,
                    bias: f32_le(&l.bias),
                    quant: None,
                });
            }
            (None, 0)
        }
    };
    let layers: Vec<Layer<'_>> = owned
        .iter()
        .map(|o| Layer {
            op: o.op,
            input: o.input,
            output: o.output,
            activation: o.activation,
            weights: &o.weights,
            bias: &o.bias,
            quant: o.quant.as_ref().map(|q| LayerQuant {
                input: q.input,
                output: q.output,
                requant_zero_point: q.requant_zero_point,
                multiplier: &q.multiplier,
                shift: &q.shift,
                neg_multiplier: &q.neg_multiplier,
                neg_shift: &q.neg_shift,
                lut: &q.lut,
            }),
        })
        .collect();
    let arena = arena_needed(precision, net.input, layers.iter().copied());
    let bytes = encode_layers(&layers).map_err(|_| "layer encoding failed")?;
    Ok(EncodedNetwork {
        precision,
        input: net.input,
        latent_dim: net.latent_dim,
        num_classes: net.num_classes,
        input_quant,
        one_hot_q,
        arena_bytes: u32::try_from(arena).map_err(|_| "arena larger than 4 GiB")?,
        layer_count: u16::try_from(layers.len()).map_err(|_| "too many layers")?,
        layers: bytes,
    })
}

/// A complete model file from encoded networks.
pub fn model_bytes(
    name: &str,
    generator: Option<&EncodedNetwork>,
    discriminator: Option<&EncodedNetwork>,
) -> Vec<u8> {
    let desc = ModelDesc {
        name,
        generator: generator.map(|g| g.desc()),
        discriminator: discriminator.map(|d| d.desc()),
    };
    // Encoding into a Vec cannot fail for these types.
    encode_model(&desc).unwrap_or_default()
}
