//! Every kind of damage to a model file gives its own typed error, and no byte string panics.

mod common;
use common::*;

use gan_infer::build::{encode_network, model_bytes};
use gan_infer::format::{writer, ModelDesc, FORMAT_VERSION, HEADER_LEN};
use gan_infer::{FormatError, Model, Net, Precision};

fn valid() -> Vec<u8> {
    encode_pair(&small_pair(21, 5, 3), Precision::I8)
}

/// Rewrites the payload of `bytes` through `f` and re-seals the header (length + CRC).
fn reseal(desc_edit: impl FnOnce(&mut ModelDesc<'_>)) -> Result<(), FormatError> {
    let bytes = valid();
    let mut desc = *Model::from_bytes(&bytes).unwrap().desc();
    desc_edit(&mut desc);
    let out = writer::encode_model(&desc).unwrap();
    Model::from_bytes(&out).map(|_| ())
}

#[test]
fn header_damage() {
    let good = valid();
    assert!(Model::from_bytes(&good).is_ok());
    assert_eq!(
        Model::from_bytes(&good[..10]).unwrap_err(),
        FormatError::TooShort
    );
    let mut b = good.clone();
    b[0] = b'X';
    assert_eq!(Model::from_bytes(&b).unwrap_err(), FormatError::BadMagic);
    let mut b = good.clone();
    b[4..6].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert_eq!(
        Model::from_bytes(&b).unwrap_err(),
        FormatError::UnsupportedVersion {
            found: FORMAT_VERSION + 1
        }
    );
    let mut b = good.clone();
    b[6] = 1;
    assert_eq!(
        Model::from_bytes(&b).unwrap_err(),
        FormatError::UnknownFlags
    );
    let n = (good.len() - HEADER_LEN) as u32;
    assert_eq!(
        Model::from_bytes(&good[..good.len() - 7]).unwrap_err(),
        FormatError::LengthMismatch {
            declared: n,
            actual: n - 7
        }
    );
    let mut b = good.clone();
    let last = b.len() - 1;
    b[last] ^= 0x40;
    assert!(matches!(
        Model::from_bytes(&b).unwrap_err(),
        FormatError::CrcMismatch { .. }
    ));
}

#[test]
fn payload_damage_behind_a_valid_crc() {
    // Truncated payload with a re-sealed header: does not decode.
    let good = valid();
    let payload = &good[HEADER_LEN..good.len() - 20];
    let mut b = good[..HEADER_LEN].to_vec();
    b[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    b[12..16].copy_from_slice(&gan_infer::crc32::crc32(payload).to_le_bytes());
    b.extend_from_slice(payload);
    assert!(matches!(
        Model::from_bytes(&b).unwrap_err(),
        FormatError::Decode | FormatError::LayerCount { .. }
    ));

    assert_eq!(
        reseal(|d| {
            d.generator = None;
            d.discriminator = None
        }),
        Err(FormatError::Empty)
    );
    assert_eq!(
        reseal(|d| d.generator.as_mut().unwrap().layer_count += 1),
        Err(FormatError::LayerCount {
            net: Net::Generator
        })
    );
    assert_eq!(
        reseal(|d| d.generator.as_mut().unwrap().layer_count -= 1),
        Err(FormatError::TrailingBytes)
    );
    assert_eq!(
        reseal(|d| d.generator.as_mut().unwrap().arena_bytes -= 1),
        Err(FormatError::ArenaUnderdeclared {
            net: Net::Generator,
            declared: 351,
            needed: 352
        })
    );
    assert_eq!(
        reseal(|d| d.generator.as_mut().unwrap().latent_dim += 1),
        Err(FormatError::BadInterface {
            net: Net::Generator
        })
    );
    assert_eq!(
        reseal(|d| d.discriminator.as_mut().unwrap().num_classes = 2),
        Err(FormatError::BadInterface {
            net: Net::Discriminator
        })
    );
    assert_eq!(
        reseal(|d| d
            .generator
            .as_mut()
            .unwrap()
            .input_quant
            .as_mut()
            .unwrap()
            .scale = 0.03),
        Err(FormatError::BadQuant {
            net: Net::Generator,
            layer: u16::MAX
        })
    );
}

/// Re-encodes the generator with one layer edited.
fn edit_layer(
    index: usize,
    edit: impl FnOnce(&mut gan_infer::Layer<'_>),
) -> Result<(), FormatError> {
    let bytes = valid();
    let model = Model::from_bytes(&bytes).unwrap();
    let mut desc = *model.desc();
    let mut layers: Vec<gan_infer::Layer<'_>> = desc
        .generator
        .unwrap()
        .layers()
        .map(|l| l.unwrap())
        .collect();
    edit(&mut layers[index]);
    let blob = writer::encode_layers(&layers).unwrap();
    desc.generator.as_mut().unwrap().layers = &blob;
    let out = writer::encode_model(&desc).unwrap();
    Model::from_bytes(&out).map(|_| ())
}

#[test]
fn layer_damage() {
    use gan_infer::{Op, Shape};
    let g = Net::Generator;
    assert_eq!(
        edit_layer(1, |l| l.output = Shape::new(4, 9, 9)),
        Err(FormatError::ShapeMismatch { net: g, layer: 1 })
    );
    assert_eq!(
        edit_layer(1, |l| l.input = Shape::new(6, 5, 5)),
        Err(FormatError::ChainBroken { net: g, layer: 1 })
    );
    assert_eq!(
        edit_layer(1, |l| l.weights = &l.weights[1..]),
        Err(FormatError::BadWeights { net: g, layer: 1 })
    );
    assert_eq!(
        edit_layer(0, |l| l.bias = &l.bias[4..]),
        Err(FormatError::BadWeights { net: g, layer: 0 })
    );
    assert_eq!(
        edit_layer(1, |l| l.op = Op::ConvTranspose2d {
            kernel: 4,
            stride: 2,
            padding: 4,
            output_padding: 0
        }),
        Err(FormatError::BadGeometry { net: g, layer: 1 })
    );
    assert_eq!(
        edit_layer(1, |l| l.op = Op::ConvTranspose2d {
            kernel: 4,
            stride: 2,
            padding: 1,
            output_padding: 2
        }),
        Err(FormatError::BadGeometry { net: g, layer: 1 })
    );
    assert_eq!(
        edit_layer(2, |l| l.quant.as_mut().unwrap().lut = &[]),
        Err(FormatError::BadQuant { net: g, layer: 2 })
    );
    assert_eq!(
        edit_layer(1, |l| l.quant.as_mut().unwrap().shift = &[0, 1, 1, 1]),
        Err(FormatError::BadQuant { net: g, layer: 1 })
    );
    assert_eq!(
        edit_layer(1, |l| l.quant.as_mut().unwrap().input.zero_point ^= 1),
        Err(FormatError::ChainBroken { net: g, layer: 1 })
    );
    assert_eq!(
        edit_layer(1, |l| l.quant = None),
        Err(FormatError::BadQuant { net: g, layer: 1 })
    );
    assert_eq!(
        edit_layer(2, |l| l.activation = gan_infer::Activation::Relu),
        Err(FormatError::BadQuant { net: g, layer: 2 })
    );
}

#[test]
fn precision_mismatch_is_rejected() {
    // An f32 network whose layers carry int8 parameters.
    let pair = small_pair(22, 5, 3);
    let cal = pair.g.calibrate(
        &[g_input(&[0; 5], Some(0), 3)],
        gan_infer::build::RangeMethod::MinMax,
    );
    let q = encode_network(&pair.g, true, Precision::I8, Some(&cal)).unwrap();
    let mut desc = q.desc();
    desc.precision = Precision::F32;
    desc.input_quant = None;
    let out = writer::encode_model(&ModelDesc {
        name: "x",
        generator: Some(desc),
        discriminator: None,
    })
    .unwrap();
    assert!(matches!(
        Model::from_bytes(&out).unwrap_err(),
        FormatError::BadWeights { .. } | FormatError::BadQuant { .. }
    ));
    let _ = model_bytes("unused", Some(&q), None);
}

/// Bounded arbitrary-bytes check: random strings, and random mutations of a valid file (with
/// and without a re-sealed CRC, so mutations reach the payload decoder and validator).
#[test]
fn arbitrary_bytes_never_panic() {
    let good = valid();
    let mut rng = Rng(0xF00D);
    let mut accepted = 0;
    for i in 0..20_000 {
        let mut b = if i % 4 == 0 {
            (0..rng.next() % 600)
                .map(|_| rng.next() as u8)
                .collect::<Vec<u8>>()
        } else {
            good.clone()
        };
        if i % 4 != 0 {
            for _ in 0..1 + rng.next() % 6 {
                let at = (rng.next() as usize) % b.len();
                match rng.next() % 4 {
                    0 => b[at] = rng.next() as u8,
                    1 => b[at] ^= 1 << (rng.next() % 8),
                    2 => b.truncate(at.max(1)),
                    _ => b.insert(at, rng.next() as u8),
                }
            }
            if i % 2 == 1 && b.len() >= HEADER_LEN {
                let n = (b.len() - HEADER_LEN) as u32;
                b[8..12].copy_from_slice(&n.to_le_bytes());
                let crc = gan_infer::crc32::crc32(&b[HEADER_LEN..]);
                b[12..16].copy_from_slice(&crc.to_le_bytes());
            }
        }
        if let Ok(m) = Model::from_bytes(&b) {
            accepted += 1;
            // Whatever validated must run without panicking.
            if let Some(g) = m.generator() {
                let mut arena = vec![0u8; g.arena_bytes()];
                let mut img = vec![0u8; g.image_shape().len()];
                let label = (g.num_classes() > 0).then_some(0);
                let _ = g.generate(1, label, &mut arena, &mut img);
            }
        }
    }
    assert!(
        accepted > 0,
        "some mutations (e.g. of weight bytes) keep the file valid"
    );
}
