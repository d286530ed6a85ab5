//! Error types: one small enum per layer of the design.
//!
//! [`FormatError`] is everything [`Model::from_bytes`](crate::Model::from_bytes) can reject;
//! [`RunError`] is everything a forward pass on an already validated model can reject (only
//! the caller's buffers and arguments, never the model).

use core::fmt;

/// Which network of a model file an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Net {
    /// The generator.
    Generator,
    /// The discriminator.
    Discriminator,
}

/// Why a byte string is not a valid `.gan` model file.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FormatError {
    /// Fewer bytes than the fixed 16-byte header.
    TooShort,
    /// The first four bytes are not `GANm`.
    BadMagic,
    /// The format version is not one this crate reads.
    UnsupportedVersion {
        /// Version found in the header.
        found: u16,
    },
    /// Header flags that this version does not define are set.
    UnknownFlags,
    /// The header's payload length disagrees with the bytes given.
    LengthMismatch {
        /// Payload length the header declares.
        declared: u32,
        /// Bytes actually present after the header.
        actual: u32,
    },
    /// The payload's CRC-32 differs from the header's.
    CrcMismatch {
        /// CRC-32 stored in the header.
        expected: u32,
        /// CRC-32 computed over the payload.
        actual: u32,
    },
    /// The postcard payload (or a layer in it) does not decode.
    Decode,
    /// Bytes are left over after the payload or a layer list.
    TrailingBytes,
    /// The file holds neither a generator nor a discriminator.
    Empty,
    /// A network has no layers, too many, or a layer list that ends early.
    LayerCount {
        /// The network.
        net: Net,
    },
    /// A layer's declared output shape is not what its operator gives for its input.
    ShapeMismatch {
        /// The network.
        net: Net,
        /// Index of the layer.
        layer: u16,
    },
    /// A layer's input is not the previous layer's output (shape or quantization).
    ChainBroken {
        /// The network.
        net: Net,
        /// Index of the layer whose input does not match.
        layer: u16,
    },
    /// Kernel, stride, padding or output padding out of the supported range.
    BadGeometry {
        /// The network.
        net: Net,
        /// Index of the layer.
        layer: u16,
    },
    /// A weight or bias slice has the wrong length for its shape and precision.
    BadWeights {
        /// The network.
        net: Net,
        /// Index of the layer.
        layer: u16,
    },
    /// Quantization parameters missing, of the wrong length or out of range.
    BadQuant {
        /// The network.
        net: Net,
        /// Index of the layer (`u16::MAX` for the network input).
        layer: u16,
    },
    /// The network's input or output does not fit its role (conditioning, image, score).
    BadInterface {
        /// The network.
        net: Net,
    },
    /// The declared arena is smaller than the layers need.
    ArenaUnderdeclared {
        /// The network.
        net: Net,
        /// Bytes declared in the file.
        declared: u32,
        /// Bytes the layers need.
        needed: u32,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FormatError::*;
        match *self {
            TooShort => write!(f, "file shorter than the 16-byte header"),
            BadMagic => write!(f, "not a .gan model file (bad magic)"),
            UnsupportedVersion { found } => write!(f, "unsupported format version {found}"),
            UnknownFlags => write!(f, "unknown header flags set"),
            LengthMismatch { declared, actual } => {
                write!(f, "payload length {declared} declared, {actual} present (truncated or padded file)")
            }
            CrcMismatch { expected, actual } => {
                write!(
                    f,
                    "CRC-32 mismatch: header {expected:#010x}, payload {actual:#010x}"
                )
            }
            Decode => write!(f, "payload does not decode"),
            TrailingBytes => write!(f, "trailing bytes after the payload"),
            Empty => write!(f, "model holds neither a generator nor a discriminator"),
            LayerCount { net } => write!(f, "{net:?}: bad layer count or layer list"),
            ShapeMismatch { net, layer } => write!(
                f,
                "{net:?} layer {layer}: output shape does not follow from the input"
            ),
            ChainBroken { net, layer } => {
                write!(f, "{net:?} layer {layer}: input is not the previous output")
            }
            BadGeometry { net, layer } => write!(
                f,
                "{net:?} layer {layer}: kernel/stride/padding out of range"
            ),
            BadWeights { net, layer } => write!(
                f,
                "{net:?} layer {layer}: weight or bias length does not match the shape"
            ),
            BadQuant { net, layer } => {
                write!(f, "{net:?} layer {layer}: bad quantization parameters")
            }
            BadInterface { net } => {
                write!(f, "{net:?}: input/output do not fit the network's role")
            }
            ArenaUnderdeclared {
                net,
                declared,
                needed,
            } => {
                write!(
                    f,
                    "{net:?}: arena of {declared} bytes declared, layers need {needed}"
                )
            }
        }
    }
}

impl core::error::Error for FormatError {}

/// Why a forward pass on a validated model could not run.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RunError {
    /// The caller's arena is smaller than the network needs.
    ArenaTooSmall {
        /// Bytes the network needs ([`Generator::arena_bytes`](crate::Generator::arena_bytes)).
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// An input or output buffer has the wrong length.
    BufferLength {
        /// Length required.
        needed: usize,
        /// Length given.
        got: usize,
    },
    /// A class label was given to an unconditional model, none to a conditional one,
    /// or one out of range.
    BadLabel {
        /// The label given (`u8::MAX` for none).
        label: u8,
        /// Number of classes of the model (0 = unconditional).
        classes: u16,
    },
    /// The model file changed under a running network (cannot happen with a validated model
    /// held in flash; reported rather than panicking).
    Corrupt,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RunError::ArenaTooSmall { needed, got } => {
                write!(f, "arena too small: {needed} bytes needed, {got} given")
            }
            RunError::BufferLength { needed, got } => {
                write!(f, "buffer length {got}, expected {needed}")
            }
            RunError::BadLabel { label, classes } => {
                write!(
                    f,
                    "label {label} not valid for a model with {classes} classes"
                )
            }
            RunError::Corrupt => write!(f, "model bytes no longer decode"),
        }
    }
}

impl core::error::Error for RunError {}
