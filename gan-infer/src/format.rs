//! The `.gan` model file: a 16-byte header followed by a postcard payload.
//!
//! ```text
//! offset  size  field
//!      0     4  magic "GANm"
//!      4     2  format version, u16 little-endian (= FORMAT_VERSION)
//!      6     2  flags, u16 LE (none defined: must be 0)
//!      8     4  payload length in bytes, u32 LE
//!     12     4  CRC-32 (IEEE) of the payload, u32 LE
//!     16     …  payload: postcard encoding of `ModelDesc`
//! ```
//!
//! Every weight, bias, requantization array and lookup table is a `&[u8]` borrowed from the
//! file bytes, so a model embedded with `include_bytes!` stays in flash. Multi-byte numbers in
//! those arrays are little-endian and read byte-wise, so no alignment is required of the file.
//! The layers of a network are stored as one byte string of back-to-back postcard-encoded
//! [`Layer`]s and decoded on the fly: a model needs a few hundred bytes of stack, whatever its
//! depth, and no capacity limit is compiled in.

use serde::{Deserialize, Serialize};

use crate::error::{FormatError, Net};

/// The four bytes every model file starts with.
pub const MAGIC: [u8; 4] = *b"GANm";
/// The format version this crate reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 16;
/// Most layers a network may have.
pub const MAX_LAYERS: u16 = 64;
/// Largest kernel side supported.
pub const MAX_KERNEL: u8 = 16;
/// Largest stride supported.
pub const MAX_STRIDE: u8 = 8;

/// A tensor shape: channels x height x width (CHW, batch of one).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Shape {
    /// Channels.
    pub c: u16,
    /// Height.
    pub h: u16,
    /// Width.
    pub w: u16,
}

impl Shape {
    /// A shape.
    pub const fn new(c: u16, h: u16, w: u16) -> Self {
        Shape { c, h, w }
    }
    /// Number of elements.
    pub const fn len(&self) -> usize {
        self.c as usize * self.h as usize * self.w as usize
    }
    /// True when the shape holds no element.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The numeric precision of a network's weights.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Precision {
    /// int8 weights and activations, int32 accumulators, integer-only requantization.
    I8,
    /// IEEE half weights, f32 activations and arithmetic.
    F16,
    /// f32 weights, activations and arithmetic (the reference path).
    F32,
}

impl Precision {
    /// Bytes of one stored weight.
    pub const fn weight_bytes(self) -> usize {
        match self {
            Precision::I8 => 1,
            Precision::F16 => 2,
            Precision::F32 => 4,
        }
    }
    /// Bytes of one activation in the arena (f16 models compute in f32).
    pub const fn activation_bytes(self) -> usize {
        match self {
            Precision::I8 => 1,
            Precision::F16 | Precision::F32 => 4,
        }
    }
}

/// The linear operator of a layer. Semantics and weight layouts are PyTorch's.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Op {
    /// `y = W x + b` on the flattened input; weights `[out, in]`. The output shape may be any
    /// CHW shape with `out` elements (a reshape comes free).
    Linear,
    /// Cross-correlation; weights `[out, in, k, k]`.
    Conv2d {
        /// Kernel side.
        kernel: u8,
        /// Stride.
        stride: u8,
        /// Zero padding on every side.
        padding: u8,
    },
    /// Transposed convolution; weights `[in, out, k, k]`;
    /// `out = (in - 1) * stride - 2 * padding + kernel + output_padding`.
    ConvTranspose2d {
        /// Kernel side.
        kernel: u8,
        /// Stride.
        stride: u8,
        /// Padding (removed from each side of the full output).
        padding: u8,
        /// Extra rows/columns at the bottom/right (< stride).
        output_padding: u8,
    },
    /// Reinterpret the CHW data with another shape of equal length (no weights, no copy).
    Reshape,
}

/// The activation applied to a layer's output.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Activation {
    /// None.
    Identity,
    /// `max(0, y)`.
    Relu,
    /// `y` if `y >= 0`, else `slope * y`.
    LeakyRelu {
        /// Negative slope (float paths; int8 uses the layer's negative-side multipliers).
        slope: f32,
    },
    /// `tanh(y)` (int8: 256-entry table).
    Tanh,
    /// `1 / (1 + exp(-y))` (int8: 256-entry table).
    Sigmoid,
}

/// Per-tensor int8 quantization: `real = scale * (q - zero_point)`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TensorQuant {
    /// Scale (positive). Stored for the host; the device's integer path never reads it.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i8,
}

impl TensorQuant {
    pub(crate) fn same_as(&self, other: &TensorQuant) -> bool {
        self.scale.to_bits() == other.scale.to_bits() && self.zero_point == other.zero_point
    }
}

/// The int8 parameters of one layer. See the crate docs for the exact arithmetic.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LayerQuant<'a> {
    /// Quantization of the layer's input (equal to the previous layer's output).
    pub input: TensorQuant,
    /// Quantization of the layer's output.
    pub output: TensorQuant,
    /// Zero point added after rescaling the accumulator (the table's input zero point when the
    /// activation is Tanh/Sigmoid, else `output.zero_point`).
    pub requant_zero_point: i8,
    /// Per output channel: fixed-point multiplier `M`, i32 LE, `0 <= M < 2^31`.
    pub multiplier: &'a [u8],
    /// Per output channel: right shift `n`, `1 <= n <= 62`.
    pub shift: &'a [u8],
    /// LeakyReLU only: per channel multipliers for negative accumulators (else empty).
    pub neg_multiplier: &'a [u8],
    /// LeakyReLU only: per channel shifts for negative accumulators (else empty).
    pub neg_shift: &'a [u8],
    /// Tanh/Sigmoid only: 256 int8 entries, `out = lut[q + 128]` (else empty).
    pub lut: &'a [u8],
}

/// One layer: an operator, its activation, its weights and (for int8) its quantization.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Layer<'a> {
    /// The operator.
    pub op: Op,
    /// Input shape.
    pub input: Shape,
    /// Output shape.
    pub output: Shape,
    /// Activation applied to the output.
    pub activation: Activation,
    /// Weights in PyTorch's layout: i8, f16 LE or f32 LE by the network's precision.
    pub weights: &'a [u8],
    /// One bias per output channel: i32 LE at scale `s_in * s_w[c]` for int8, f32 LE otherwise.
    pub bias: &'a [u8],
    /// int8 parameters (`Some` exactly for int8 networks).
    #[serde(borrow)]
    pub quant: Option<LayerQuant<'a>>,
}

/// One network (generator or discriminator) of a model file.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NetworkDesc<'a> {
    /// Precision of every layer.
    pub precision: Precision,
    /// Input shape: generator `(latent_dim + num_classes, 1, 1)`; discriminator
    /// `(image_channels + num_classes, H, W)` (image, then one constant plane per class).
    pub input: Shape,
    /// Generator: latent length. Discriminator: 0.
    pub latent_dim: u16,
    /// Number of classes for conditioning (0 = unconditional).
    pub num_classes: u16,
    /// int8: quantization of the input tensor. A generator's scale is `2^-k` (zero point 0)
    /// so the latent is quantized by a shift; a discriminator's zero point is 0 and pixels
    /// map to `q = p - 128`.
    pub input_quant: Option<TensorQuant>,
    /// int8: the quantized value of a one-hot 1.0 in the input tensor.
    pub one_hot_q: i8,
    /// Scratch bytes a forward pass needs (at least what the layers need; see `arena_needed`).
    pub arena_bytes: u32,
    /// Number of layers in `layers`.
    pub layer_count: u16,
    /// `layer_count` postcard-encoded [`Layer`]s, back to back.
    pub layers: &'a [u8],
}

/// The whole payload of a model file.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ModelDesc<'a> {
    /// A short name (e.g. `digits-tiny-i8`).
    pub name: &'a str,
    /// The generator, if shipped.
    #[serde(borrow)]
    pub generator: Option<NetworkDesc<'a>>,
    /// The discriminator, if shipped.
    #[serde(borrow)]
    pub discriminator: Option<NetworkDesc<'a>>,
}

/// Iterates over the layers of a network, decoding each from the file bytes.
#[derive(Clone, Debug)]
pub struct Layers<'a> {
    rest: &'a [u8],
    left: u16,
}

impl<'a> Iterator for Layers<'a> {
    type Item = Result<Layer<'a>, FormatError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match postcard::take_from_bytes::<Layer<'a>>(self.rest) {
            Ok((layer, rest)) => {
                self.rest = rest;
                Some(Ok(layer))
            }
            Err(_) => {
                self.left = 0;
                Some(Err(FormatError::Decode))
            }
        }
    }
}

impl<'a> NetworkDesc<'a> {
    /// The layers, decoded one at a time.
    pub fn layers(&self) -> Layers<'a> {
        Layers {
            rest: self.layers,
            left: self.layer_count,
        }
    }
}

/// Output channels of a layer (the bias length in elements).
pub fn out_channels(layer: &Layer<'_>) -> usize {
    match layer.op {
        Op::Linear => layer.output.len(),
        Op::Reshape => 0,
        _ => layer.output.c as usize,
    }
}

/// Number of weights a layer with this operator and these shapes has.
pub fn weight_count(op: Op, input: Shape, output: Shape) -> u64 {
    let (ci, co) = (input.c as u64, output.c as u64);
    match op {
        Op::Linear => input.len() as u64 * output.len() as u64,
        Op::Conv2d { kernel, .. } | Op::ConvTranspose2d { kernel, .. } => {
            ci * co * kernel as u64 * kernel as u64
        }
        Op::Reshape => 0,
    }
}

/// The output shape the operator gives for `input` with `out_channels`, or `None` when the
/// geometry is invalid (empty output, padding >= kernel, output_padding >= stride, ...).
pub fn output_shape(op: Op, input: Shape, out_channels: u16) -> Option<Shape> {
    let conv_side = |n: u16, k: u8, s: u8, p: u8| -> Option<u16> {
        let padded = n as u32 + 2 * p as u32;
        if padded < k as u32 {
            return None;
        }
        u16::try_from((padded - k as u32) / s as u32 + 1).ok()
    };
    let deconv_side = |n: u16, k: u8, s: u8, p: u8, op: u8| -> Option<u16> {
        let full = (n as u32 - 1) * s as u32 + k as u32 + op as u32;
        let o = full.checked_sub(2 * p as u32)?;
        u16::try_from(o).ok().filter(|&o| o > 0)
    };
    let geometry_ok = |k: u8, s: u8, p: u8| {
        (1..=MAX_KERNEL).contains(&k) && (1..=MAX_STRIDE).contains(&s) && p < k
    };
    if input.is_empty() {
        return None;
    }
    match op {
        Op::Linear | Op::Reshape => None, // output shape is free; checked by length
        Op::Conv2d {
            kernel,
            stride,
            padding,
        } => {
            if !geometry_ok(kernel, stride, padding) || out_channels == 0 {
                return None;
            }
            Some(Shape::new(
                out_channels,
                conv_side(input.h, kernel, stride, padding)?,
                conv_side(input.w, kernel, stride, padding)?,
            ))
        }
        Op::ConvTranspose2d {
            kernel,
            stride,
            padding,
            output_padding,
        } => {
            if !geometry_ok(kernel, stride, padding)
                || output_padding >= stride
                || out_channels == 0
            {
                return None;
            }
            Some(Shape::new(
                out_channels,
                deconv_side(input.h, kernel, stride, padding, output_padding)?,
                deconv_side(input.w, kernel, stride, padding, output_padding)?,
            ))
        }
    }
}

/// Scratch bytes a network needs: the largest (input + output) of any layer, and at least the
/// network input. Activations ping-pong between the two ends of the arena, so this is exact.
/// Reshape layers work in place and add nothing.
pub fn arena_needed<'a>(
    precision: Precision,
    input: Shape,
    layers: impl Iterator<Item = Layer<'a>>,
) -> u64 {
    let e = precision.activation_bytes() as u64;
    let mut need = input.len() as u64 * e;
    for l in layers {
        if l.op != Op::Reshape {
            need = need.max((l.input.len() as u64 + l.output.len() as u64) * e);
        }
    }
    need
}

fn check_len(bytes: &[u8], elems: u64, each: u64) -> bool {
    elems.checked_mul(each) == Some(bytes.len() as u64)
}

fn check_requant_arrays(mult: &[u8], shift: &[u8], channels: usize) -> bool {
    mult.len() == channels * 4
        && shift.len() == channels
        && shift.iter().all(|&n| (1..=62).contains(&n))
        && mult
            .chunks_exact(4)
            .all(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) >= 0)
}

fn validate_layer(
    net: Net,
    index: u16,
    precision: Precision,
    layer: &Layer<'_>,
    prev_quant: Option<TensorQuant>,
) -> Result<(), FormatError> {
    let e = |kind: fn(Net, u16) -> FormatError| kind(net, index);
    let bad_geometry = |n, l| FormatError::BadGeometry { net: n, layer: l };
    let bad_shape = |n, l| FormatError::ShapeMismatch { net: n, layer: l };
    let bad_weights = |n, l| FormatError::BadWeights { net: n, layer: l };
    let bad_quant = |n, l| FormatError::BadQuant { net: n, layer: l };

    if layer.input.is_empty() || layer.output.is_empty() {
        return Err(e(bad_shape));
    }
    match layer.op {
        Op::Linear => {}
        Op::Reshape => {
            if layer.output.len() != layer.input.len() {
                return Err(e(bad_shape));
            }
            if layer.activation != Activation::Identity {
                return Err(e(bad_geometry));
            }
        }
        op => match output_shape(op, layer.input, layer.output.c) {
            None => return Err(e(bad_geometry)),
            Some(s) if s != layer.output => return Err(e(bad_shape)),
            Some(_) => {}
        },
    }
    if let Activation::LeakyRelu { slope } = layer.activation {
        if !slope.is_finite() {
            return Err(e(bad_geometry));
        }
    }
    let cout = out_channels(layer);
    let weights = weight_count(layer.op, layer.input, layer.output);
    if !check_len(layer.weights, weights, precision.weight_bytes() as u64)
        || !check_len(layer.bias, cout as u64, 4)
    {
        return Err(e(bad_weights));
    }
    match (precision, &layer.quant) {
        (Precision::I8, Some(q)) => {
            let prev = prev_quant.ok_or(e(bad_quant))?;
            if !q.input.same_as(&prev) {
                return Err(FormatError::ChainBroken { net, layer: index });
            }
            if !(q.output.scale > 0.0 && q.output.scale.is_finite()) {
                return Err(e(bad_quant));
            }
            if layer.op == Op::Reshape {
                if !q.output.same_as(&q.input) || !q.multiplier.is_empty() || !q.lut.is_empty() {
                    return Err(e(bad_quant));
                }
                return Ok(());
            }
            if !check_requant_arrays(q.multiplier, q.shift, cout) {
                return Err(e(bad_quant));
            }
            let leaky = matches!(layer.activation, Activation::LeakyRelu { .. });
            if leaky == q.neg_multiplier.is_empty()
                || (leaky && !check_requant_arrays(q.neg_multiplier, q.neg_shift, cout))
                || (!leaky && !q.neg_shift.is_empty())
            {
                return Err(e(bad_quant));
            }
            let table = matches!(layer.activation, Activation::Tanh | Activation::Sigmoid);
            let lut_ok = if table {
                q.lut.len() == 256
            } else {
                q.lut.is_empty() && q.requant_zero_point == q.output.zero_point
            };
            if !lut_ok {
                return Err(e(bad_quant));
            }
        }
        (Precision::F16 | Precision::F32, None) => {}
        _ => return Err(e(bad_quant)),
    }
    Ok(())
}

/// `2^-k` for an int8 generator's input scale, as `k`, read from the f32 bits (no float math).
pub(crate) fn power_of_two_exponent(scale: f32) -> Option<u8> {
    let bits = scale.to_bits();
    let (sign, exp, mant) = (bits >> 31, (bits >> 23) & 0xFF, bits & 0x7F_FFFF);
    if sign != 0 || mant != 0 || exp == 0 || exp > 127 {
        return None;
    }
    let k = 127 - exp;
    (k <= 12).then_some(k as u8)
}

fn validate_network(net: Net, d: &NetworkDesc<'_>) -> Result<(), FormatError> {
    let interface = FormatError::BadInterface { net };
    if d.layer_count == 0 || d.layer_count > MAX_LAYERS {
        return Err(FormatError::LayerCount { net });
    }
    // Role-specific interface.
    let nc = d.num_classes;
    match net {
        Net::Generator => {
            if d.latent_dim == 0
                || d.input.h != 1
                || d.input.w != 1
                || d.input.c as u32 != d.latent_dim as u32 + nc as u32
            {
                return Err(interface);
            }
        }
        Net::Discriminator => {
            let image_c = d.input.c.checked_sub(nc).ok_or(interface)?;
            if d.latent_dim != 0 || !(image_c == 1 || image_c == 3) {
                return Err(interface);
            }
        }
    }
    if d.precision == Precision::I8 {
        let q = d.input_quant.ok_or(FormatError::BadQuant {
            net,
            layer: u16::MAX,
        })?;
        let scale_ok = match net {
            Net::Generator => power_of_two_exponent(q.scale).is_some(),
            Net::Discriminator => q.scale > 0.0 && q.scale.is_finite(),
        };
        if !scale_ok || q.zero_point != 0 || (nc > 0 && d.one_hot_q <= 0) {
            return Err(FormatError::BadQuant {
                net,
                layer: u16::MAX,
            });
        }
    } else if d.input_quant.is_some() {
        return Err(FormatError::BadQuant {
            net,
            layer: u16::MAX,
        });
    }

    let mut prev_shape = d.input;
    let mut prev_quant = d.input_quant;
    let mut last: Option<Layer<'_>> = None;
    let mut rest = d.layers;
    for i in 0..d.layer_count {
        let (layer, r) = postcard::take_from_bytes::<Layer<'_>>(rest)
            .map_err(|_| FormatError::LayerCount { net })?;
        rest = r;
        if layer.input != prev_shape {
            return Err(FormatError::ChainBroken { net, layer: i });
        }
        validate_layer(net, i, d.precision, &layer, prev_quant)?;
        prev_shape = layer.output;
        prev_quant = layer.quant.map(|q| q.output);
        last = Some(layer);
    }
    if !rest.is_empty() {
        return Err(FormatError::TrailingBytes);
    }
    let last = last.ok_or(FormatError::LayerCount { net })?;
    // The output must be an image in [-1, 1] (generator) or one probability (discriminator),
    // with the fixed int8 output scales that make the device's mapping integer-exact.
    let (act_ok, out_q) = match net {
        Net::Generator => (
            last.activation == Activation::Tanh && matches!(last.output.c, 1 | 3),
            TensorQuant {
                scale: 1.0 / 128.0,
                zero_point: 0,
            },
        ),
        Net::Discriminator => (
            last.activation == Activation::Sigmoid && last.output.len() == 1,
            TensorQuant {
                scale: 1.0 / 256.0,
                zero_point: -128,
            },
        ),
    };
    if !act_ok || last.quant.is_some_and(|q| !q.output.same_as(&out_q)) {
        return Err(interface);
    }
    let needed = arena_needed(d.precision, d.input, d.layers().flatten());
    if (d.arena_bytes as u64) < needed {
        return Err(FormatError::ArenaUnderdeclared {
            net,
            declared: d.arena_bytes,
            needed: needed.min(u32::MAX as u64) as u32,
        });
    }
    Ok(())
}

/// Checks the header and returns the payload bytes.
pub(crate) fn split_header(bytes: &[u8]) -> Result<&[u8], FormatError> {
    if bytes.len() < HEADER_LEN {
        return Err(FormatError::TooShort);
    }
    if bytes[0..4] != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != FORMAT_VERSION {
        return Err(FormatError::UnsupportedVersion { found: version });
    }
    if u16::from_le_bytes([bytes[6], bytes[7]]) != 0 {
        return Err(FormatError::UnknownFlags);
    }
    let declared = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != declared as u64 {
        return Err(FormatError::LengthMismatch {
            declared,
            actual: payload.len().min(u32::MAX as usize) as u32,
        });
    }
    let expected = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let actual = crate::crc32::crc32(payload);
    if expected != actual {
        return Err(FormatError::CrcMismatch { expected, actual });
    }
    Ok(payload)
}

/// Parses and fully validates a model file.
pub(crate) fn parse(bytes: &[u8]) -> Result<ModelDesc<'_>, FormatError> {
    let payload = split_header(bytes)?;
    let (desc, rest) =
        postcard::take_from_bytes::<ModelDesc<'_>>(payload).map_err(|_| FormatError::Decode)?;
    if !rest.is_empty() {
        return Err(FormatError::TrailingBytes);
    }
    if desc.generator.is_none() && desc.discriminator.is_none() {
        return Err(FormatError::Empty);
    }
    if let Some(g) = &desc.generator {
        validate_network(Net::Generator, g)?;
    }
    if let Some(d) = &desc.discriminator {
        validate_network(Net::Discriminator, d)?;
    }
    if let (Some(g), Some(d)) = (&desc.generator, &desc.discriminator) {
        // The discriminator judges the generator's images, with the same classes.
        let g_out = g.layers().flatten().last().map(|l| l.output);
        let image_c = d.input.c - d.num_classes;
        if g_out != Some(Shape::new(image_c, d.input.h, d.input.w))
            || g.num_classes != d.num_classes
        {
            return Err(FormatError::BadInterface {
                net: Net::Discriminator,
            });
        }
    }
    Ok(desc)
}

/// Writing model files (host side: the exporter and tests).
#[cfg(feature = "alloc")]
pub mod writer {
    use alloc::vec::Vec;

    use super::*;

    /// Encodes layers into the byte string a [`NetworkDesc`] holds.
    pub fn encode_layers(layers: &[Layer<'_>]) -> Result<Vec<u8>, postcard::Error> {
        let mut out = Vec::new();
        for l in layers {
            out.extend_from_slice(&postcard::to_allocvec(l)?);
        }
        Ok(out)
    }

    /// Encodes a whole model file: header (magic, version, length, CRC-32) and payload.
    /// The result is not validated here; read it back with `Model::from_bytes` to check it.
    pub fn encode_model(desc: &ModelDesc<'_>) -> Result<Vec<u8>, postcard::Error> {
        let payload = postcard::to_allocvec(desc)?;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crate::crc32::crc32(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        Ok(out)
    }
}
