//! `gan export`: a checkpoint's generator and discriminator to a `.gan` file.
//!
//! Each convolution absorbs the BatchNorm (eval statistics) after it,
//! `W'[.., c, ..] = W * s_c`, `b'_c = beta_c - mean_c * s_c`, `s_c = gamma_c / sqrt(var_c + eps)`,
//! and the activation after that; the discriminator's last layer gets a Sigmoid so the device
//! reports a probability. int8 calibrates activation ranges on real data (discriminator: real
//! and generated digits; generator: sampler latents) and quantizes per output channel through
//! `gan_infer::build`, the same code the tests check.

use std::path::Path;

use gan_infer::build::{encode_network, model_bytes, FloatLayer, FloatNetwork, RangeMethod};
use gan_infer::{Activation, Op, Precision, Shape};

use crate::checkpoint::{self, Loaded};
use crate::data::Dataset;
use crate::engine::{Layer, Sequential};
use crate::eval::Evaluator;
use crate::model::{to_unit, Arch};

/// Reads the architecture recorded in a checkpoint.
pub fn arch_of(ck: &Loaded) -> Result<Arch, String> {
    let pair = |k: &str| -> Result<[usize; 2], String> {
        let s: String = ck.meta(k)?;
        let v: Vec<usize> = s.split(',').filter_map(|x| x.parse().ok()).collect();
        v.try_into()
            .map_err(|_| format!("checkpoint metadata {k} is not two widths"))
    };
    Ok(Arch {
        name: ck.meta("preset")?,
        z: ck.meta("z")?,
        classes: ck.meta("classes")?,
        g: pair("g_widths")?,
        d: pair("d_widths")?,
    })
}

/// The networks of a checkpoint: the EMA generator when present, else `G`.
pub fn load_networks(path: &Path) -> Result<(Arch, Sequential, Sequential), String> {
    let ck = checkpoint::load(path)?;
    let arch = arch_of(&ck)?;
    let mut g = arch.generator();
    let mut d = arch.discriminator();
    let g_prefix = if ck.has("G_ema") { "G_ema" } else { "G" };
    ck.restore(&mut g, g_prefix, None)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    ck.restore(&mut d, "D", None)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((arch, g, d))
}

/// Folds a sequential network into gan-infer float layers, starting from `input`.
pub fn fold(
    net: &Sequential,
    input: Shape,
    final_activation: Option<Activation>,
) -> Result<Vec<FloatLayer>, String> {
    let mut out: Vec<FloatLayer> = Vec::new();
    let mut shape = input;
    for layer in &net.layers {
        // Both convolutions become a layer of the same form; only the operator differs.
        let (h, w) = (shape.h as usize, shape.w as usize);
        let conv = match layer {
            Layer::Conv2d(c) => Some((
                Op::Conv2d {
                    kernel: c.k as u8,
                    stride: c.s as u8,
                    padding: c.p as u8,
                },
                c.out_hw(h, w),
                c.cout,
                &c.weight,
                &c.bias,
            )),
            Layer::ConvTranspose2d(c) => Some((
                Op::ConvTranspose2d {
                    kernel: c.k as u8,
                    stride: c.s as u8,
                    padding: c.p as u8,
                    output_padding: c.op as u8,
                },
                c.out_hw(h, w),
                c.cout,
                &c.weight,
                &c.bias,
            )),
            _ => None,
        };
        if let Some((op, (oh, ow), cout, weight, bias)) = conv {
            let o = Shape::new(cout as u16, oh as u16, ow as u16);
            let bias = bias.as_ref().map_or(vec![0.0; cout], |b| b.w.clone());
            out.push(FloatLayer {
                op,
                input: shape,
                output: o,
                activation: Activation::Identity,
                weights: weight.w.clone(),
                bias,
            });
            shape = o;
            continue;
        }
        match layer {
            Layer::Conv2d(_) | Layer::ConvTranspose2d(_) => {}
            Layer::BatchNorm(bn) => {
                let l = out.last_mut().ok_or("BatchNorm before any convolution")?;
                let (cout, transposed) = match l.op {
                    Op::ConvTranspose2d { .. } => (l.output.c as usize, true),
                    _ => (l.output.c as usize, false),
                };
                let kk = l.weights.len() / (cout * l.input.c as usize);
                for c in 0..cout {
                    let s = bn.gamma.w[c] / (bn.running_var[c] + bn.eps).sqrt();
                    l.bias[c] = (l.bias[c] - bn.running_mean[c]) * s + bn.beta.w[c];
                    for ci in 0..l.input.c as usize {
                        let base = if transposed {
                            (ci * cout + c) * kk
                        } else {
                            (c * l.input.c as usize + ci) * kk
                        };
                        l.weights[base..base + kk].iter_mut().for_each(|w| *w *= s);
                    }
                }
            }
            Layer::Relu | Layer::LeakyRelu(_) | Layer::Tanh => {
                let l = out.last_mut().ok_or("activation before any layer")?;
                l.activation = match layer {
                    Layer::Relu => Activation::Relu,
                    Layer::LeakyRelu(s) => Activation::LeakyRelu { slope: *s },
                    _ => Activation::Tanh,
                };
            }
            Layer::Flatten | Layer::Linear(_) => {
                return Err("export supports the convolutional GAN layers only".into())
            }
        }
    }
    if let (Some(a), Some(l)) = (final_activation, out.last_mut()) {
        l.activation = a;
    }
    Ok(out)
}

/// The float networks of a checkpoint, as gan-infer describes them.
pub fn float_networks(
    arch: &Arch,
    g: &Sequential,
    d: &Sequential,
) -> Result<(FloatNetwork, FloatNetwork), String> {
    let (z, c) = (arch.z as u16, arch.classes as u16);
    let gi = Shape::new(z + c, 1, 1);
    let di = Shape::new(1 + c, 28, 28);
    let gn = FloatNetwork {
        latent_dim: z,
        num_classes: c,
        input: gi,
        layers: fold(g, gi, None)?,
    };
    let dn = FloatNetwork {
        latent_dim: 0,
        num_classes: c,
        input: di,
        layers: fold(d, di, Some(Activation::Sigmoid))?,
    };
    Ok((gn, dn))
}

/// The generator's float input for a Q12 latent and label.
pub fn g_input(latent_q12: &[i32], label: Option<u8>, classes: usize) -> Vec<f32> {
    let mut v: Vec<f32> = latent_q12.iter().map(|&q| q as f32 / 4096.0).collect();
    v.extend((0..classes).map(|k| if Some(k as u8) == label { 1.0 } else { 0.0 }));
    v
}

/// The discriminator's float input for pixels and a label.
pub fn d_input(pixels: &[u8], label: Option<u8>, classes: usize) -> Vec<f32> {
    let mut v: Vec<f32> = pixels.iter().map(|&p| to_unit(p)).collect();
    for k in 0..classes {
        v.extend(std::iter::repeat_n(
            if Some(k as u8) == label { 1.0 } else { 0.0 },
            pixels.len(),
        ));
    }
    v
}

/// Encodes both networks at `precision` (int8 calibrated on `calib` examples of `data`).
#[allow(clippy::too_many_arguments)] // the export's settings, each a CLI option
pub fn export(
    name: &str,
    arch: &Arch,
    g: &Sequential,
    d: &Sequential,
    precision: Precision,
    data: &Dataset,
    calib: usize,
    method: RangeMethod,
) -> Result<Vec<u8>, String> {
    let (gn, dn) = float_networks(arch, g, d)?;
    let classes = arch.classes;
    let (gc, dc) = if precision == Precision::I8 {
        let n = calib.max(1);
        let mut gi = Vec::with_capacity(n);
        let mut di = Vec::with_capacity(2 * n);
        for i in 0..n {
            let (l, z) = Evaluator::sample_spec(i, arch.z, 424_242);
            let label = (classes > 0).then_some(l);
            let x = g_input(&z, label, classes);
            let fake: Vec<u8> = gn
                .forward(&x)
                .iter()
                .map(|&v| crate::model::to_pixel(v))
                .collect();
            gi.push(x);
            di.push(d_input(&fake, label, classes));
            let j = i * data.len() / n;
            let real_label = (classes > 0).then_some(data.labels[j]);
            di.push(d_input(data.image(j), real_label, classes));
        }
        (
            Some(gn.calibrate(&gi, method)),
            Some(dn.calibrate(&di, method)),
        )
    } else {
        (None, None)
    };
    let ge = encode_network(&gn, true, precision, gc.as_ref())?;
    let de = encode_network(&dn, false, precision, dc.as_ref())?;
    Ok(model_bytes(name, Some(&ge), Some(&de)))
}

/// How far gan-infer's output of `model` is from the f32 generator on `n` fixed seeds:
/// (max |diff|, mean |diff|, PSNR in dB), in pixels (0..255).
pub fn verify(
    model: &gan_infer::Model<'_>,
    g_float: &FloatNetwork,
    n: usize,
) -> Result<(u8, f64, f64), String> {
    let g = model.generator().ok_or("exported model has no generator")?;
    let mut arena = vec![0u8; g.arena_bytes()];
    let mut img = vec![0u8; g.image_shape().len()];
    let (mut max, mut sum, mut sq, mut count) = (0u8, 0f64, 0f64, 0usize);
    for i in 0..n {
        let (l, z) = Evaluator::sample_spec(i, g.latent_dim(), 99);
        let label = (g.num_classes() > 0).then_some(l);
        g.generate_from_latent(&z, label, &mut arena, &mut img)
            .map_err(|e| e.to_string())?;
        let want = g_float.forward(&g_input(&z, label, g.num_classes() as usize));
        for (&p, &y) in img.iter().zip(&want) {
            let r = crate::model::to_pixel(y);
            let dd = p.abs_diff(r);
            max = max.max(dd);
            sum += dd as f64;
            sq += (dd as f64).powi(2);
            count += 1;
        }
    }
    let mse = sq / count.max(1) as f64;
    let psnr = if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    };
    Ok((max, sum / count.max(1) as f64, psnr))
}

/// `gan inspect`: layers, shapes, parameters, MACs, flash and arena bytes.
pub fn inspect(bytes: &[u8]) -> Result<String, String> {
    use std::fmt::Write;
    let model =
        gan_infer::Model::from_bytes(bytes).map_err(|e| format!("not a valid model: {e}"))?;
    let mut s = String::new();
    let _ = writeln!(s, "model {:?}: {} bytes (flash)", model.name(), bytes.len());
    for (role, net) in [
        ("generator", model.desc().generator),
        ("discriminator", model.desc().discriminator),
    ] {
        let Some(net) = net else { continue };
        let _ = writeln!(
            s,
            "{role}: {:?}, input {}x{}x{} (latent {}, classes {}), arena {} bytes",
            net.precision,
            net.input.c,
            net.input.h,
            net.input.w,
            net.latent_dim,
            net.num_classes,
            net.arena_bytes
        );
        let (mut tp, mut tm, mut tb) = (0usize, 0usize, 0usize);
        for (i, l) in net.layers().enumerate() {
            let l = l.map_err(|e| e.to_string())?;
            let params = gan_infer::format::weight_count(l.op, l.input, l.output) as usize
                + l.bias.len() / 4;
            let macs = match l.op {
                Op::Conv2d { kernel, .. } => {
                    l.output.len() * l.input.c as usize * kernel as usize * kernel as usize
                }
                Op::ConvTranspose2d { kernel, .. } => {
                    l.input.len() * l.output.c as usize * kernel as usize * kernel as usize
                }
                Op::Linear => l.input.len() * l.output.len(),
                Op::Reshape => 0,
            };
            let bytes = l.weights.len()
                + l.bias.len()
                + l.quant.map_or(0, |q| {
                    q.multiplier.len()
                        + q.shift.len()
                        + q.neg_multiplier.len()
                        + q.neg_shift.len()
                        + q.lut.len()
                });
            let _ = writeln!(
                s,
                "  {i}: {:?} {}x{}x{} -> {}x{}x{} {:?}  params {params}  MACs {macs}  bytes {bytes}",
                l.op, l.input.c, l.input.h, l.input.w, l.output.c, l.output.h, l.output.w, l.activation
            );
            tp += params;
            tm += macs;
            tb += bytes;
        }
        let _ = writeln!(s, "  total: params {tp}  MACs {tm}  weight bytes {tb}");
    }
    Ok(s)
}
